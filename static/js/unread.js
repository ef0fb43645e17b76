// Unread counts and mention badges, for the sidebar and the page title.
// The server keeps each member's read position and counts what others
// wrote after it (`unread`, and `mentions` of them), up to 1000; the counts
// come with the group objects and DM entries it sends. Between those, the
// notifications socket keeps them live: `activity` and `dm` add an unread
// message, `mention` a mention, and `read` (this user read it in another
// tab or on another device) sets both. The conversation open in this tab
// counts as read: the conversation moves the read position on the server.

import { h } from './dom.js';

/** The server counts up to this; the page shows "999+". */
export const CAP = 1000;

export function countText(n) {
  return n >= CAP ? '999+' : String(n);
}

const NONE = Object.freeze({ unread: 0, mentions: 0 });

export class UnreadCounts {
  /** @param {() => void} onChange  called after every change (re-render the lists and the title) */
  constructor(onChange) {
    this.counts = new Map();
    /** Live changes counted, and the count at each conversation's latest (see `seed`). */
    this.changes = 0;
    this.changedAt = new Map();
    this.onChange = onChange;
    this.openId = null;
    /** New messages in the open conversation while the tab was hidden (title only). */
    this.unseen = 0;
    document.addEventListener('visibilitychange', () => {
      if (!document.hidden && this.unseen) {
        this.unseen = 0;
        this.onChange();
      }
    });
  }

  get(id) {
    return this.counts.get(id) || NONE;
  }

  has(id) {
    const c = this.get(id);
    return c.unread > 0 || c.mentions > 0;
  }

  /** Sets both counts (a `read` frame says so); the open conversation stays at zero. */
  set(id, unread, mentions) {
    if (id === this.openId) return;
    this.counts.set(id, { unread: Math.max(0, Number(unread) || 0), mentions: Math.max(0, Number(mentions) || 0) });
    this.live(id);
    this.onChange();
  }

  /** A live frame changed `id`'s counts: an answer asked for before this is older. */
  live(id) {
    this.changes += 1;
    this.changedAt.set(id, this.changes);
  }

  /** A mark to pass to `seed` for objects from a request made now. */
  stamp() {
    return this.changes;
  }

  /**
   * Takes the counts of a server object (a group object or a DM entry) if
   * it carries them. Not for the open conversation: it is being read, and
   * the object may predate that.
   */
  seed(id, obj, { quiet = false, since = null } = {}) {
    if (!obj || typeof obj.unread !== 'number' || id === this.openId) return;
    // A list asked for before a live frame changed this one is stale for it.
    if (since !== null && (this.changedAt.get(id) || 0) > since) return;
    this.counts.set(id, { unread: obj.unread, mentions: Number(obj.mentions) || 0 });
    if (!quiet) this.onChange();
  }

  /** One more unread message (`activity`, `dm`), or mention (`mention`), elsewhere. */
  bump(id, field = 'unread') {
    if (id === this.openId) return;
    const c = { ...this.get(id) };
    c[field] = Math.min(CAP, c[field] + 1);
    this.counts.set(id, c);
    this.live(id);
    this.onChange();
  }

  /** The conversation opened here (null: none): it counts as read. */
  open(id) {
    this.openId = id;
    if (id != null && this.counts.has(id)) {
      this.counts.delete(id);
      this.onChange();
    }
  }

  /** A message arrived in the open conversation (counts in the title while the tab is hidden). */
  noteLive() {
    if (!document.hidden) return;
    this.unseen += 1;
    this.onChange();
  }

  /** Drops the counts of conversations that are gone (or left). */
  forget(id) {
    if (this.counts.delete(id)) this.onChange();
  }

  /** Keeps only the counts of these conversations. */
  keepOnly(ids) {
    for (const id of [...this.counts.keys()]) if (!ids.has(id)) this.counts.delete(id);
  }

  total() {
    let n = this.unseen;
    for (const c of this.counts.values()) n += c.unread;
    return n;
  }

  /** The document title: "(3) #ops · SecureChat". */
  title(name) {
    const n = this.total();
    return `${n ? `(${countText(n)}) ` : ''}${name ? `${name} · ` : ''}SecureChat`;
  }

  /** The badges of one sidebar entry: the unread count, and the mentions ("@2"); null for a zero. */
  badges(id) {
    const { unread, mentions } = this.get(id);
    const said = `${countText(mentions)} ${mentions === 1 ? 'mention' : 'mentions'}`;
    return [
      unread > 0 ? h('span', { class: 'badge' }, countText(unread), h('span', { class: 'sr-only' }, ' unread')) : null,
      mentions > 0 ? h('span', { class: 'badge mention-badge', title: `${said} of you` },
        h('span', { 'aria-hidden': 'true' }, `@${countText(mentions)}`), h('span', { class: 'sr-only' }, ` ${said}`)) : null,
    ];
  }
}
