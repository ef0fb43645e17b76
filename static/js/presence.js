// Who is online, kept from the server's deltas. A room with more than 100
// online users sends `presence_delta` after its `hello`, and `/ws` sends
// `online_delta` once more than 100 users are online anywhere, instead of
// the whole list on every change (PROTOCOL "Presence in large rooms").
// Both have the same shape, so one function applies either.

/**
 * The online list after a delta: entries in `joined` replace (or add)
 * that user's, names in `left` go.
 */
export function applyPresenceDelta(users, f) {
  const byName = new Map(users.map((u) => [u.username, u]));
  for (const u of Array.isArray(f.joined) ? f.joined : []) {
    if (u && typeof u.username === 'string') byName.set(u.username, { username: u.username, ips: Array.isArray(u.ips) ? u.ips : [] });
  }
  for (const name of Array.isArray(f.left) ? f.left : []) byName.delete(name);
  return [...byName.values()];
}
