// What one open conversation knows, and the rules that keep it right, with
// no DOM, no network and no timers: the messages in the log (and the stored
// system lines, "alice added bob", which page and replay like messages) and
// when each last changed, the ids deleted meanwhile, the outbox of messages not yet
// acknowledged, the paging cursors, my read position, and how a frame or a
// catch-up page of history changes all that. conversation.js hands it what the server says;
// it reports each change to its listener, which shows it.

import { sameBody } from './e2e.js';

/** The longest message the server takes, in characters. */
export const MAX_LENGTH = 4000;

/*
 * An outbox item {cid, body, text, state, createdAt} goes through:
 *   queued → inflight → done          sent, then acked (or found stored)
 *   inflight → uncertain → done       the socket went away; found stored
 *   inflight → uncertain → queued     not stored after all: sent again, same client_id
 *   inflight → held → queued          rate limited: sent again later
 *   inflight → failed → queued        refused; the user pressed Retry (or Discard: dropped)
 */

export class ConversationModel {
  /**
   * @param groupId  the conversation's group id
   * @param me       my user name (the server's hello may correct it)
   * @param on       told of each change as it happens, in order:
   *   seen(m)                 a message from the server, before it is applied
   *   added(entry)            a message the log did not have (from the socket or a catch-up)
   *   changed(entry, old, m)  a message took on the fields of `m`; `old` is its previous msg
   *   removed(id, by)         a message was deleted (`by` a moderator, if the server said so)
   *   confirmed(item, entry)  an outbox item is stored as `entry` (null: the log already had it)
   */
  constructor(groupId, me, on) {
    this.groupId = groupId;
    this.me = me;
    this.on = on;
    /** id → {msg, at} for every message in the log; `at` is the tick of its last change. */
    this.byId = new Map();
    /** Counts changes to `byId`, so a catch-up can tell what it is older than. */
    this.tick = 0;
    /** Ids of messages deleted while this conversation was open: they never come back. */
    this.gone = new Set();
    this.oldestId = null;
    this.newestId = 0;
    this.hasMore = false;
    this.historyLoaded = false;
    this.loadingOlder = false;
    this.olderFailed = false;
    /** Messages not yet acknowledged, in the order typed. */
    this.outbox = [];
    /** Message frames sent on the current socket and not yet answered, in order. */
    this.inflight = [];
    /** The current socket said hello: message frames may go out. */
    this.helloSeen = false;
    this.connectedOnce = false;
    /** My read position here (null: not known yet); it only moves forward. */
    this.lastReadId = null;
  }

  // ---------------------------------------------------------- read state

  /** The server says I have read up to `id`; true when that moved the position. */
  readTo(id) {
    if (typeof id !== 'number' || (this.lastReadId !== null && id <= this.lastReadId)) return false;
    this.lastReadId = id;
    return true;
  }

  /** The oldest message in the log that is not a system line (its id), or null. */
  oldestUnreadCandidate() {
    let oldest = null;
    for (const e of this.byId.values()) {
      if (!e.msg.system && (oldest === null || e.msg.id < oldest)) oldest = e.msg.id;
    }
    return oldest;
  }

  /**
   * The first message after my read position that someone else wrote, if
   * the log has it. An unknown position hides nothing (no divider) unless
   * `unknownIsNothing` is false (then everything counts as unread).
   */
  firstUnread({ unknownIsNothing = true } = {}) {
    if (this.lastReadId === null && unknownIsNothing) return null;
    const read = this.lastReadId === null ? 0 : this.lastReadId;
    let first = null;
    for (const e of this.byId.values()) {
      const m = e.msg;
      if (m.system || m.author === this.me || m.id <= read) continue;
      if (!first || m.id < first.msg.id) first = e;
    }
    return first;
  }

  // ------------------------------------------------------------- socket

  /** The socket said hello; true when it is not the first one. */
  hello(f) {
    const reconnect = this.connectedOnce;
    this.connectedOnce = true;
    this.helloSeen = true;
    if (f.you && f.you.username) this.me = f.you.username;
    return reconnect;
  }

  /** The socket went away: whatever was in flight may or may not be stored. */
  socketLost() {
    if (!this.helloSeen) return;
    this.helloSeen = false;
    for (const item of this.inflight) {
      if (item.state === 'inflight') item.state = 'uncertain';
    }
    this.inflight = [];
  }

  // ------------------------------------------------------------- frames

  /** A message from the server; true when it settled an outbox item. */
  receive(m) {
    if (typeof m.id !== 'number') return false;
    if (m.id > this.newestId) this.newestId = m.id;
    this.on.seen(m);
    const known = this.byId.get(m.id);
    if (known) {
      this.update(known, m);
      return false;
    }
    if (m.author === this.me && !m.system) {
      // A replayed copy of a message whose ack we never got.
      const item = this.outbox.find((i) => i.state === 'uncertain' && sameBody(m, i.body));
      if (item) {
        this.confirm(item, m.id);
        this.update(this.byId.get(m.id), m);
        return true;
      }
    }
    const entry = this.remember(m);
    if (this.oldestId === null || m.id < this.oldestId) this.oldestId = m.id;
    this.on.added(entry);
    return false;
  }

  /** The server stored a message we sent; true when it was one of ours. */
  ack(f) {
    const item = this.outbox.find((i) => i.cid === f.client_id);
    if (!item || typeof f.id !== 'number') return false;
    if (f.id > this.newestId) this.newestId = f.id;
    this.confirm(item, f.id);
    return true;
  }

  /**
   * A stored system line sent live (`{type:"system", text, created_at, id}`):
   * kept like a message, by its id, so the history page that has it too
   * does not show it twice.
   */
  systemLine(f) {
    this.receive({
      id: f.id, group_id: this.groupId, content: f.text || '', created_at: f.created_at || Date.now(), edited_at: null, system: true,
    });
  }

  edited(m) {
    const entry = this.byId.get(m.id);
    if (entry) this.update(entry, m);
  }

  /** `{type:"reactions", id, reactions}`: who reacted with what, now. */
  reactions(f) {
    const entry = this.byId.get(f.id);
    if (entry && f.reactions && typeof f.reactions === 'object') this.update(entry, { id: f.id, reactions: f.reactions });
  }

  remove(id, by = null) {
    this.gone.add(id);
    if (this.byId.delete(id)) this.on.removed(id, by);
  }

  // -------------------------------------------------------------- store

  /** Records a message in the log. */
  remember(m) {
    this.tick += 1;
    const entry = { msg: m, at: this.tick };
    this.byId.set(m.id, entry);
    return entry;
  }

  update(entry, m) {
    const old = entry.msg;
    this.tick += 1;
    entry.at = this.tick;
    entry.msg = { ...old, ...m };
    this.on.changed(entry, old, m);
  }

  /** My newest message in the log, if any. */
  lastMine() {
    let last = null;
    for (const e of this.byId.values()) {
      if (e.msg.author === this.me && !e.msg.system && (!last || e.msg.id > last.msg.id)) last = e;
    }
    return last;
  }

  // ------------------------------------------------------------ history

  /** Messages of a page (newest first) the log has not seen, oldest first. */
  unseen(msgs) {
    return msgs.filter((m) => !this.byId.has(m.id) && !this.gone.has(m.id)).reverse();
  }

  /**
   * Takes in the newest page ({messages, has_more}). Returns the entries
   * it added, oldest first, and whether it was the first page.
   */
  addLatest(data) {
    const fresh = !this.historyLoaded;
    this.historyLoaded = true;
    this.hasMore = !!data.has_more;
    const added = this.unseen(data.messages).map((m) => {
      if (m.id > this.newestId) this.newestId = m.id;
      if (this.oldestId === null || m.id < this.oldestId) this.oldestId = m.id;
      return this.remember(m);
    });
    return { fresh, added };
  }

  /** Whether an older page may be asked for now (before `oldestId`). */
  canLoadOlder() {
    return !this.loadingOlder && this.hasMore && this.historyLoaded && this.oldestId !== null;
  }

  /** Takes in an older page; returns the entries it added, oldest first. */
  addOlder(data) {
    this.hasMore = !!data.has_more;
    return this.unseen(data.messages).map((m) => {
      if (m.id < this.oldestId) this.oldestId = m.id;
      return this.remember(m);
    });
  }

  /**
   * After reconnecting: settles messages whose ack was lost (stored → adopt,
   * not stored → send again with the same client_id) and picks up edits and
   * deletions made while we were away. `data` is the newest page, a snapshot
   * taken when it was asked for, at tick `asked`: messages, edits and
   * deletions that arrived live while it was on its way are newer, and it
   * leaves them alone.
   */
  reconcile(data, asked) {
    const msgs = data.messages;
    for (const item of this.outbox.filter((i) => i.state === 'uncertain')) {
      const hit = msgs.find((m) => m.author === this.me && !m.system && !this.byId.has(m.id) && sameBody(m, item.body));
      if (hit) {
        this.confirm(item, hit.id);
        this.update(this.byId.get(hit.id), hit);
      } else {
        item.state = 'queued';
      }
    }
    const floor = data.has_more && msgs.length ? msgs[msgs.length - 1].id : 0;
    const live = new Set(msgs.map((m) => m.id));
    for (const [id, entry] of [...this.byId]) {
      if (entry.at <= asked && id >= floor && !live.has(id)) this.remove(id);
    }
    for (const m of msgs.slice().reverse()) {
      if (this.gone.has(m.id)) continue;
      const entry = this.byId.get(m.id);
      if (entry) {
        if (entry.at <= asked) this.update(entry, m);
      } else if (this.oldestId === null || m.id > this.oldestId) this.receive(m);
    }
  }

  // ------------------------------------------------------------- outbox

  /**
   * Puts a new message in the outbox; `shown`: what the stored message
   * will carry besides the body ({reply_to: {id, author, excerpt}, mentions}).
   */
  queue(cid, body, text, shown = {}) {
    const item = { cid, body, text, shown, state: 'queued', createdAt: Date.now() };
    this.outbox.push(item);
    return item;
  }

  /**
   * The message to send now, if any. One message is in flight at a time
   * (the next goes on its ack or error): with several in flight, the server
   * could refuse one under its rate limit and accept a later one after its
   * bucket refilled, storing them out of order.
   */
  next() {
    if (!this.helloSeen) return null;
    for (const item of this.outbox) {
      if (item.state === 'held' || item.state === 'inflight') return null;
      if (item.state === 'queued') return item;
    }
    return null;
  }

  /** `item`'s frame went out on the socket. */
  sent(item) {
    item.state = 'inflight';
    this.inflight.push(item);
  }

  hasUncertain() {
    return this.outbox.some((i) => i.state === 'uncertain');
  }

  /** A pending message is stored as `id`. */
  confirm(item, id) {
    const at = this.outbox.indexOf(item);
    if (at >= 0) this.outbox.splice(at, 1);
    this.inflight = this.inflight.filter((i) => i !== item);
    item.state = 'done';
    if (this.byId.has(id)) {
      this.on.confirmed(item, null);
      return;
    }
    const entry = this.remember({
      id,
      group_id: this.groupId,
      author: this.me,
      created_at: item.createdAt,
      edited_at: null,
      ...item.body,
      reply_to: (item.shown && item.shown.reply_to) || null,
      mentions: (item.shown && item.shown.mentions) || [],
      reactions: {},
      // The frame named the files by id; the message shows the file objects.
      attachments: (item.shown && item.shown.attachments) || [],
    });
    if (this.oldestId === null) this.oldestId = id;
    this.on.confirmed(item, entry);
  }

  /**
   * The server refused a frame: the message it names by `client_id`, if
   * any. A refusal without one is not about a message of ours.
   */
  refused(clientId) {
    if (!clientId) return null;
    const item = this.inflight.find((i) => i.cid === clientId);
    if (item) this.inflight = this.inflight.filter((i) => i !== item);
    return item || null;
  }

  /** Rate limited: `item` waits, and so does everything typed after it. */
  hold(item) {
    item.state = 'held';
  }

  /** The wait is over; true when `item` is queued again. */
  release(item) {
    if (item.state !== 'held') return false;
    item.state = 'queued';
    return true;
  }

  fail(item) {
    item.state = 'failed';
  }

  retry(item) {
    item.state = 'queued';
  }

  discard(item) {
    const at = this.outbox.indexOf(item);
    if (at >= 0) this.outbox.splice(at, 1);
  }
}
