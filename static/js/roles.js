// Who may do what in a group, so the page offers only what the user's role
// allows. The same table as the server's src/chat/roles.rs (which decides:
// it answers 403 with the reason for anything else); keep the two alike.

/** Roles from least to most. */
const RANK = { member: 0, admin: 1, owner: 2 };

/**
 * Whether a member with role `actor` may do `action`; `target` is the role
 * of the member acted on (for `remove`). DMs have no moderators.
 * Actions: rename, add, remove, setRole, transfer, deleteGroup,
 * deleteAnyMessage, invites.
 */
export function can(actor, action, target = null) {
  if (!(actor in RANK)) return false;
  switch (action) {
    case 'rename':
    case 'add':
    case 'deleteAnyMessage':
    case 'invites':
      return RANK[actor] >= RANK.admin;
    case 'remove':
      if (actor === 'owner') return target !== 'owner';
      return actor === 'admin' && target === 'member';
    case 'setRole':
    case 'transfer':
    case 'deleteGroup':
      return actor === 'owner';
    default:
      return false;
  }
}

/** Sorts members: owner, admins, members; by name within each. */
export function byRole(a, b) {
  return (RANK[b.role] ?? -1) - (RANK[a.role] ?? -1)
    || a.username.localeCompare(b.username, undefined, { sensitivity: 'base' });
}
