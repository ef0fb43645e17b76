// How one open conversation looks: the message log (day dividers, blocks by
// one author, pending and failed sends, system notices), formatted texts
// with mentions (markup.js), reply quotes, reaction chips and the picker
// (reactions.js), the "New since you left" divider, editing and deleting
// in place (owners and admins delete others' messages too), scrolling,
// jumping to a message and the "New messages" pill, who is typing and who
// is here. Attached files are drawn by attachments.js. It is told what changed (conversation.js passes on the model's
// reports) and hands what the user asks for to `actions`; what it keeps is
// only what is on screen. Text goes in through dom.js's h(), markup.js and
// textContent only, so it is escaped by construction.

import { h, icon, avatar, autosize, confirmBar } from './dom.js';
import { hms, iso, dayKey, dayLabel, longTime } from './time.js';
import { sameBody } from './e2e.js';
import { MAX_LENGTH } from './conversation-model.js';
import { markup } from './markup.js';
import { reactionRow, reactionPicker } from './reactions.js';
import { AttachmentView } from './attachments.js';

/** Messages by one author closer than this are shown as one block. */
const BLOCK_GAP = 5 * 60 * 1000;
/** Hide someone's typing notice after this long without another. */
const TYPING_SHOWN = 4000;
/** System notices closer than this share a line. */
const SYSTEM_MERGE = 10 * 60 * 1000;
/** A message a moderator deleted says so this long before it goes. */
const DELETED_SHOWN = 3000;
/** How long a message jumped to stays highlighted. */
const FLASH = 2000;
/** Reply quotes show this much of the original. */
const EXCERPT = 100;

/** The first `EXCERPT` characters of a text, on one line. */
export function excerpt(text) {
  const line = String(text).replace(/\s+/gu, ' ').trim();
  const chars = [...line];
  return chars.length > EXCERPT ? `${chars.slice(0, EXCERPT).join('')}…` : line;
}

export class ConversationView {
  /**
   * @param app      the page (ui elements, alert(), renderPeople(), setOnlineCount())
   * @param target   {id, name, e2e, kind: 'group'|'dm'}
   * @param codec    the conversation's codec (e2e.js): decodes texts, says whether we can send
   * @param actions  {me(), retryHistory(), saveEdit(id, text), deleteMessage(id), retry(item), discard(item),
   *                  reply(id), react(id, emoji, on) → Promise<error text | null>, jumpTo(id)}
   */
  constructor(app, target, codec, actions) {
    this.app = app;
    this.ui = app.ui;
    this.t = target;
    this.codec = codec;
    this.actions = actions;
    /** id → {el, entry} for every message in the log (`entry` is the model's). */
    this.rows = new Map();
    /** Outbox item → its element, until it is stored or discarded. */
    this.pending = new Map();
    /** Message text element → number of its latest decode (late results lose). */
    this.decodes = new WeakMap();
    /** The group's online users from the last hello/presence frame. */
    this.presence = [];
    /** Who is typing → the timer that hides the notice. */
    this.typing = new Map();
    this.unseen = 0;
    this.closed = false;
    this.top = null;
    /** Owner or admin of this group: others' messages get a Delete button too. */
    this.moderator = false;
    /** id → the text shown for it (decrypted, in E2E groups), for quotes and search. */
    this.plain = new Map();
    /** The messages' attached files (and their blob: URLs, in E2E groups). */
    this.files = new AttachmentView();
  }

  get me() {
    return this.actions.me();
  }

  start() {
    this.top = h('div', { class: 'log-top' });
    this.ui.log.replaceChildren(this.top);
    this.setTop('loading');
    this.hidePill();
    this.renderTyping();
  }

  close() {
    this.closed = true;
    this.files.releaseAll();
    for (const t of this.typing.values()) clearTimeout(t);
    this.typing.clear();
    this.ui.typing.replaceChildren();
  }

  // ------------------------------------------------------------- history

  /** Marks the log busy while the newest page loads. */
  busy(on) {
    if (on) this.ui.log.setAttribute('aria-busy', 'true');
    else this.ui.log.removeAttribute('aria-busy');
  }

  /** What the top of the log says: 'loading', 'more', 'start' or 'error'. */
  setTop(state) {
    const t = this.t;
    const parts = [];
    if (state === 'loading') {
      parts.push(h('div', { class: 'log-loading' }, h('span', { class: 'spinner', 'aria-hidden': 'true' }), 'Loading messages…'));
    } else if (state === 'start') {
      const title = t.kind === 'dm' ? t.name : `#${t.name}`;
      const text = t.kind === 'dm'
        ? `This is the beginning of your direct messages with ${t.name}.`
        : `This is the very beginning of the ${title} group.${t.e2e ? ' Messages here are end-to-end encrypted: only the devices of its members can read them, and a device can read only what was sent after its key joined.' : ''}`;
      parts.push(h('div', { class: 'log-start' },
        h('div', { class: 'log-start-icon', 'aria-hidden': 'true' }, t.kind === 'dm' ? avatar(t.name, 'avatar-lg') : icon(t.e2e ? 'lock' : 'hash', { size: 26 })),
        h('h2', {}, title),
        h('p', {}, text)));
    } else if (state === 'error') {
      parts.push(h('div', { class: 'log-loading' }, 'Earlier messages could not be loaded. ',
        h('button', { type: 'button', class: 'link-btn', onclick: () => this.actions.retryHistory() }, 'Try again')));
    }
    this.top.className = `log-top ${state}`;
    this.top.replaceChildren(...parts);
  }

  /** The newest page (entries oldest first): each in id order, then one reflow. */
  showLatest(entries) {
    for (const entry of entries) this.place(this.addRow(entry), entry.msg.id, false);
    this.reflowAll();
  }

  /**
   * An older page (entries oldest first) above what is shown, keeping what
   * is on screen where it is; `top` is the log top's state afterwards.
   */
  showOlder(entries, top) {
    const anchor = this.firstVisible();
    const before = anchor ? anchor.getBoundingClientRect().top : 0;
    const added = entries.map((entry) => this.addRow(entry));
    const next = this.top.nextElementSibling;
    this.top.after(...added);
    for (const el of added) this.reflow(el);
    this.reflow(next);
    this.setTop(top);
    if (anchor) this.ui.log.scrollTop += anchor.getBoundingClientRect().top - before;
  }

  /** The text of the first message at least partly visible (scroll anchor). */
  firstVisible() {
    const top = this.ui.log.getBoundingClientRect().top;
    for (const el of this.ui.log.children) {
      if (!el.classList.contains('item')) continue;
      if (el.getBoundingClientRect().bottom > top) return el.querySelector('.text') || el;
    }
    return null;
  }

  /** Whether the log does not fill its box yet (so an older page should come). */
  underfilled() {
    const { log } = this.ui;
    return log.scrollHeight <= log.clientHeight + 40;
  }

  // ------------------------------------------------------------ messages

  /** A message that arrived live: in place, and scrolled to unless the reader is further up. */
  showLive(entry) {
    const m = entry.msg;
    const stick = this.atBottom();
    this.place(this.addRow(entry), m.id);
    if (m.system) {
      if (stick) this.scrollToBottom();
      return;
    }
    this.stopTyping(m.author);
    if (stick || m.author === this.me) this.scrollToBottom();
    else this.bumpUnseen();
  }

  /** Renders a stored message and records its row (not yet in the log). */
  addRow(entry) {
    const m = entry.msg;
    const el = m.system ? this.systemLine(m.content || '', m.created_at, m.id) : this.renderMessage(m);
    this.rows.set(entry.msg.id, { el, entry });
    return el;
  }

  /** A message took on the fields of `m` (`old`: what it showed before; `entry.msg` has both). */
  update(entry, old, changed) {
    if (entry.msg.system) return;
    const m = entry.msg;
    const { el } = this.rows.get(entry.msg.id);
    if (old.created_at !== m.created_at && m.created_at) {
      el.dataset.ts = String(m.created_at);
      const time = el.querySelector('time');
      time.dateTime = iso(m.created_at);
      time.textContent = hms(m.created_at);
      time.title = longTime(m.created_at);
      el.querySelector('.gutter-time').textContent = hms(m.created_at);
      this.reflow(el);
      this.reflow(el.nextElementSibling);
    }
    const mentionsChanged = JSON.stringify(old.mentions || []) !== JSON.stringify(m.mentions || []);
    if (old.edited_at !== m.edited_at || !sameBody(old, m) || mentionsChanged) {
      if (!el.classList.contains('editing')) this.fillText(el, entry.msg);
      const edited = el.querySelector('.edited');
      edited.hidden = !m.edited_at;
      if (m.edited_at) edited.title = `Edited ${longTime(m.edited_at)}`;
    }
    if ('reactions' in changed && JSON.stringify(old.reactions || {}) !== JSON.stringify(m.reactions || {})) {
      // A row of chips appearing under the newest message keeps the bottom in view.
      const stick = this.atBottom();
      this.setReactions(el, m);
      if (stick) this.scrollToBottom();
    }
    if ('reply_to' in changed && JSON.stringify(old.reply_to || null) !== JSON.stringify(m.reply_to || null)) {
      this.setQuote(el, m);
    }
    const ids = (x) => JSON.stringify((x.attachments || []).map((f) => f && f.id));
    if ('attachments' in changed && ids(old) !== ids(m) && !el.classList.contains('editing')) this.fillText(el, m);
  }

  /** A message was deleted; `by` a moderator (someone else): it says so for a moment. */
  remove(id, by = null) {
    const row = this.rows.get(id);
    if (!row) return;
    this.rows.delete(id);
    const { el, entry } = row;
    this.plain.delete(id);
    this.refreshQuotes(id, true);
    if (!by || by === this.me || entry.msg.system) {
      this.takeOut(el);
      return;
    }
    const textEl = el.querySelector('.text');
    this.decodes.set(textEl, (this.decodes.get(textEl) || 0) + 1);
    this.files.release(el);
    for (const part of el.querySelectorAll('.actions, .edit-form, .confirm-bar, .reactions, .reaction-picker, .attachments, .unverified')) part.remove();
    el.classList.remove('editing', 'confirming', 'encrypted', 'undecryptable');
    el.classList.add('removed');
    textEl.hidden = false;
    textEl.removeAttribute('title');
    textEl.textContent = `Message deleted by ${by}`;
    setTimeout(() => {
      if (el.isConnected) this.takeOut(el);
    }, DELETED_SHOWN);
  }

  /** Removes an element from the log, and regroups the one that followed it. */
  takeOut(el) {
    const next = el.nextElementSibling;
    const unread = el.querySelector(':scope > .unread-divider');
    this.files.release(el);
    el.remove();
    if (unread && next && next.classList.contains('msg')) this.putDivider(next, unread);
    this.reflow(next);
  }

  renderMessage(m, { pendingText = null } = {}) {
    const mine = m.author === this.me;
    const el = h('div', {
      class: `item msg${mine ? ' mine' : ''}${pendingText !== null ? ' pending' : ''}`,
      dataset: { author: m.author, ts: String(m.created_at) },
    });
    if (typeof m.id === 'number') el.dataset.id = String(m.id);
    const time = h('time', { datetime: iso(m.created_at), title: longTime(m.created_at) }, hms(m.created_at));
    const edited = h('span', { class: 'edited' }, '(edited)');
    edited.hidden = !m.edited_at;
    if (m.edited_at) edited.title = `Edited ${longTime(m.edited_at)}`;
    const status = h('div', { class: 'status' });
    status.hidden = true;
    el.append(
      h('div', { class: 'gutter' },
        avatar(m.author),
        h('span', { class: 'gutter-time', 'aria-hidden': 'true' }, hms(m.created_at))),
      h('div', { class: 'body' },
        h('div', { class: 'meta' }, h('span', { class: 'author' }, m.author), ' ', time, ' ', edited),
        h('div', { class: 'text' }),
        status));
    if (m.reply_to) this.setQuote(el, m);
    if (pendingText !== null) el.querySelector('.text').textContent = pendingText;
    else this.fillText(el, m);
    if (typeof m.id === 'number') {
      this.setReactions(el, m);
      this.addActions(el, m.id, mine);
    }
    return el;
  }

  // ----------------------------------------------------- replies, quotes

  /** What a quote of message `id` says: its text if shown here, else what the server quoted. */
  quoteText(ref) {
    const shown = this.plain.get(ref.id);
    if (typeof shown === 'string') return excerpt(shown);
    if (typeof ref.excerpt === 'string') return ref.excerpt;
    if (this.codec.e2e && !ref.gone) return 'Encrypted message';
    return 'Original message deleted';
  }

  /** The quoted block above a reply's text: a button that goes to the original. */
  setQuote(el, m) {
    const old = el.querySelector('.reply-quote');
    const ref = m.reply_to;
    if (!ref || typeof ref.id !== 'number') {
      if (old) old.remove();
      return;
    }
    const text = this.quoteText(ref);
    const quote = h('button', {
      type: 'button',
      class: 'reply-quote',
      dataset: { ref: String(ref.id) },
      title: 'Show the original message',
      'aria-label': `In reply to ${ref.author}: ${text}`,
      onclick: () => this.actions.jumpTo(ref.id),
    }, h('span', { class: 'reply-author' }, ref.author), h('span', { class: 'reply-excerpt' }, text));
    if (old) old.replaceWith(quote);
    else el.querySelector('.text').before(quote);
  }

  /** Quotes of message `id` say again what it says (it was decrypted, edited or deleted). */
  refreshQuotes(id, gone = false) {
    for (const q of this.ui.log.querySelectorAll(`.reply-quote[data-ref="${Number(id)}"]`)) {
      const row = this.rows.get(Number(q.closest('.msg').dataset.id));
      if (!row || !row.entry.msg.reply_to) continue;
      const ref = gone ? { ...row.entry.msg.reply_to, excerpt: null, gone: true } : row.entry.msg.reply_to;
      this.setQuote(row.el, { reply_to: ref });
    }
  }

  /** What the composer's reply bar quotes for message `id`: {id, author, excerpt}. */
  replyRef(id) {
    const row = this.rows.get(id);
    if (!row) return null;
    const m = row.entry.msg;
    const shown = this.plain.get(id);
    return { id, author: m.author, excerpt: typeof shown === 'string' ? excerpt(shown) : null };
  }

  // ----------------------------------------------------------- reactions

  setReactions(el, m) {
    const old = el.querySelector('.reactions');
    const row = reactionRow(m.reactions, this.me, (emoji, on) => this.actions.react(m.id, emoji, on));
    if (row) row.append(h('button', {
      type: 'button', class: 'reaction add-reaction', 'aria-label': 'Add reaction', title: 'Add reaction', onclick: () => this.openPicker(m.id),
    }, '+'));
    if (old && row) old.replaceWith(row);
    else if (old) old.remove();
    else if (row) el.querySelector('.status').before(row);
  }

  /** The small emoji picker under message `id`. */
  openPicker(id) {
    const row = this.rows.get(id);
    if (!row) return;
    const { el } = row;
    const open = el.querySelector('.reaction-picker');
    if (open) {
      open.querySelector('button').focus();
      return;
    }
    const close = () => {
      picker.remove();
      el.classList.remove('picking');
      const back = el.querySelector('.act-react');
      if (back) back.focus();
    };
    const picker = reactionPicker((emoji) => this.actions.react(id, emoji, true), close);
    el.classList.add('picking');
    el.querySelector('.status').before(picker);
    picker.querySelector('button').focus();
  }

  // --------------------------------------------- unread divider, jumping

  /** Shows "New since you left" above message `id` (null: nowhere). */
  markUnread(id) {
    for (const d of this.ui.log.querySelectorAll('.unread-divider')) d.remove();
    const row = id == null ? null : this.rows.get(id);
    if (!row) return null;
    const d = h('div', { class: 'unread-divider', role: 'separator', 'aria-label': 'New since you left' },
      h('span', {}, 'New since you left'));
    this.putDivider(row.el, d);
    return d;
  }

  putDivider(el, d) {
    const day = el.querySelector(':scope > .day');
    if (day) day.after(d);
    else el.prepend(d);
  }

  /** Scrolls so that the "New since you left" divider is near the top. */
  scrollToUnread() {
    const d = this.ui.log.querySelector('.unread-divider');
    if (!d) return false;
    const log = this.ui.log;
    log.scrollTop += d.getBoundingClientRect().top - log.getBoundingClientRect().top - 24;
    this.hidePill();
    return true;
  }

  has(id) {
    return this.rows.has(id);
  }

  /** Scrolls message `id` into view and highlights it for a moment. */
  flash(id) {
    const row = this.rows.get(id);
    if (!row) return false;
    const { el } = row;
    el.scrollIntoView({ block: 'center' });
    el.classList.remove('flash');
    // Restart the animation when it is jumped to twice.
    void el.offsetWidth;
    el.classList.add('flash');
    el.setAttribute('tabindex', '-1');
    el.focus({ preventScroll: true });
    setTimeout(() => el.classList.remove('flash'), FLASH);
    return true;
  }

  fillText(el, m) {
    const textEl = el.querySelector('.text');
    const seq = (this.decodes.get(textEl) || 0) + 1;
    this.decodes.set(textEl, seq);
    const apply = (r, late) => {
      if (this.decodes.get(textEl) !== seq) return;
      const stick = late && this.atBottom();
      if (r.failed) {
        textEl.replaceChildren(icon(r.icon || 'lock', { size: 13, cls: 'text-icon' }), ' ', r.text);
        if (typeof m.id === 'number') this.plain.delete(m.id);
      } else {
        textEl.replaceChildren(markup(r.text, { mentions: m.mentions || [], me: this.me }));
        if (typeof m.id === 'number' && !m.system) {
          const had = this.plain.get(m.id);
          this.plain.set(m.id, r.text);
          if (had !== r.text) this.refreshQuotes(m.id);
        }
      }
      const me = String(this.me).toLowerCase();
      el.classList.toggle('mentions-me', !r.failed && (m.mentions || []).some((n) => String(n).toLowerCase() === me));
      if (r.title) textEl.title = r.title;
      else textEl.removeAttribute('title');
      el.classList.toggle('encrypted', !!r.encrypted);
      el.classList.toggle('undecryptable', !!r.failed);
      this.setVerified(el, r);
      this.files.fill(el, m, r, this.codec.e2e);
      if (stick) this.scrollToBottom();
    };
    const broken = { text: 'This message could not be decrypted', encrypted: true, failed: true };
    let r;
    try {
      r = this.codec.decode(m);
    } catch {
      r = broken;
    }
    if (r && typeof r.then === 'function') {
      textEl.textContent = 'Decrypting…';
      el.classList.add('encrypted');
      r.then((v) => apply(v, true), () => apply(broken, true));
    } else apply(r, false);
  }

  /**
   * An end-to-end encrypted message whose signature could not be checked
   * (decode's `unverified`): a plain mark under its text says so, with the
   * reason as its description. Verified messages get none.
   */
  setVerified(el, r) {
    let mark = el.querySelector(':scope > .body > .unverified');
    if (!r || !r.unverified) {
      if (mark) mark.remove();
      el.classList.remove('not-verified');
      return;
    }
    if (!mark) {
      mark = h('p', { class: 'unverified', role: 'note' });
      el.querySelector(':scope > .body > .text').after(mark);
    }
    mark.replaceChildren(icon('alert', { size: 13, cls: 'text-icon' }), ' ', h('span', { class: 'unverified-text' }, r.unverified));
    mark.title = r.unverifiedWhy || '';
    mark.setAttribute('aria-label', r.unverifiedWhy ? `${r.unverified}. ${r.unverifiedWhy}` : r.unverified);
    el.classList.add('not-verified');
  }

  /**
   * Reply and Add reaction (everyone's messages, where we can send), Edit
   * (the author's own) and Delete (own, or anyone's for moderators).
   */
  addActions(el, id, mine) {
    const old = el.querySelector('.actions');
    const canSend = this.codec.canSend;
    const canEdit = mine && canSend;
    const bar = h('div', { class: 'actions', role: 'group', 'aria-label': 'Actions' },
      canSend ? h('button', { type: 'button', class: 'act act-reply', onclick: () => this.actions.reply(id) }, 'Reply') : null,
      h('button', {
        type: 'button', class: 'act act-react', 'aria-label': 'Add reaction', title: 'Add reaction', onclick: () => this.openPicker(id),
      }, '☺'),
      canEdit ? h('button', { type: 'button', class: 'act act-edit', onclick: () => this.startEdit(id) }, 'Edit') : null,
      mine || this.moderator ? h('button', { type: 'button', class: 'act danger', onclick: () => this.askDelete(id) }, 'Delete') : null);
    if (old) old.replaceWith(bar);
    else el.append(bar);
  }

  /** Moderators see Delete on everyone's messages; others, on their own only. */
  setModerator(on) {
    if (this.moderator === on) return;
    this.moderator = on;
    for (const [id, { el, entry }] of this.rows) {
      const m = entry.msg;
      if (m.system || m.author === this.me || el.classList.contains('removed')) continue;
      this.addActions(el, id, false);
    }
  }

  /** The conversation was renamed: the start of the log names it. */
  retitle() {
    if (this.top && this.top.classList.contains('start')) this.setTop('start');
  }

  /** A system line, not a member's message: a stored one ("alice added bob") carries its `id`. */
  systemLine(text, at, id = null, entryData = {}) {
    const el = h('div', { class: 'item sys', dataset: { ts: String(at) } },
      h('div', { class: 'sys-line' },
        h('span', { class: 'sys-text' }, h('span', { class: 'sys-entry', dataset: entryData }, text)),
        h('time', { datetime: iso(at), title: longTime(at) }, hms(at))));
    if (id != null) el.dataset.id = String(id);
    return el;
  }

  /**
   * A live-only notice ("alice joined" / "alice left"). Notices in a row
   * share one line, and a "left" followed by "joined" of the same person (a
   * reload, a reconnect) cancels out instead of cluttering the log.
   */
  addSystem(f) {
    const at = f.created_at || Date.now();
    const text = f.text || '';
    const stick = this.atBottom();
    const m = /^(.+) (joined|left)$/u.exec(text);
    // You know you are here: your own comings and goings are not news.
    if (m && m[1] === this.me) return;
    const last = this.ui.log.lastElementChild;
    if (m && last && last.classList.contains('sys') && !last.dataset.id && at - Number(last.dataset.ts) < SYSTEM_MERGE) {
      const [, name, verb] = m;
      const entries = [...last.querySelectorAll('.sys-entry')];
      const opposite = entries.find((e) => e.dataset.name === name && e.dataset.verb !== verb);
      if (opposite) {
        opposite.remove();
        if (!last.querySelector('.sys-entry')) last.remove();
        return;
      }
      if (!entries.some((e) => e.dataset.name === name && e.dataset.verb === verb)) {
        last.querySelector('.sys-text').append(h('span', { class: 'sys-entry', dataset: { name, verb } }, text));
      }
      const time = last.querySelector('time');
      time.dateTime = iso(at);
      time.textContent = hms(at);
      time.title = longTime(at);
      if (stick) this.scrollToBottom();
      return;
    }
    const el = this.systemLine(text, at, null, m ? { name: m[1], verb: m[2] } : {});
    this.ui.log.append(el);
    this.reflow(el);
    if (stick) this.scrollToBottom();
  }

  /** Inserts a message element in id order, before pending ones. */
  place(el, id, reflow = true) {
    let node = this.ui.log.lastElementChild;
    while (node && node !== this.top) {
      const nid = node.dataset.id ? Number(node.dataset.id) : null;
      if (node.classList.contains('pending') || (nid !== null && nid > id)) {
        node = node.previousElementSibling;
        continue;
      }
      break;
    }
    (node || this.top).after(el);
    if (reflow) {
      this.reflow(el);
      this.reflow(el.nextElementSibling);
    }
  }

  reflowAll() {
    for (const el of this.ui.log.children) this.reflow(el);
  }

  /** Day dividers and grouping of consecutive messages by one author. */
  reflow(el) {
    if (!el || !el.classList.contains('item')) return;
    let prev = el.previousElementSibling;
    while (prev && !prev.classList.contains('item')) prev = prev.previousElementSibling;
    const ts = Number(el.dataset.ts);
    const newDay = !prev || dayKey(Number(prev.dataset.ts)) !== dayKey(ts);
    let divider = el.firstElementChild && el.firstElementChild.classList.contains('day') ? el.firstElementChild : null;
    if (newDay) {
      if (!divider) {
        divider = h('div', { class: 'day', role: 'separator' }, h('span'));
        el.prepend(divider);
      }
      divider.firstElementChild.textContent = dayLabel(ts);
    } else if (divider) divider.remove();
    const continued = !newDay && el.classList.contains('msg') && prev.classList.contains('msg')
      && prev.dataset.author === el.dataset.author && ts - Number(prev.dataset.ts) < BLOCK_GAP
      && !prev.classList.contains('failed');
    el.classList.toggle('continued', continued);
  }

  // ------------------------------------------------------------- outbox

  /** A message typed here, shown at the bottom as "sending…" until it is stored. */
  addPending(item) {
    const reply = item.shown && item.shown.reply_to ? item.shown.reply_to : null;
    const el = this.renderMessage({ author: this.me, created_at: item.createdAt, edited_at: null, reply_to: reply }, { pendingText: item.text });
    const files = (item.shown && item.shown.attachments) || [];
    if (files.length) {
      el.querySelector('.text').after(h('div', { class: 'attachments pending-attachments' },
        files.map((f) => h('span', { class: 'att-pending' }, f.label || f.name))));
    }
    this.pending.set(item, el);
    this.setStatus(el, 'sending…');
    this.ui.log.append(el);
    this.reflow(el);
    this.scrollToBottom();
  }

  sending(item) {
    this.setStatus(this.pending.get(item), 'sending…');
  }

  /** A pending message is stored as `entry` (null: it is shown already, drop the copy). */
  confirm(item, entry) {
    const el = this.pending.get(item);
    this.pending.delete(item);
    this.takeOut(el);
    if (!entry) return;
    const { id } = entry.msg;
    const stored = this.renderMessage(entry.msg);
    this.rows.set(id, { el: stored, entry });
    this.place(stored, id);
    if (this.atBottom(120)) this.scrollToBottom();
  }

  /** The server refused a pending message: say why, offer Retry and Discard. */
  failed(item, reason) {
    const el = this.pending.get(item);
    el.classList.add('failed');
    const retry = h('button', {
      type: 'button',
      class: 'link-btn',
      onclick: () => {
        el.classList.remove('failed');
        this.setStatus(el, 'sending…');
        this.actions.retry(item);
      },
    }, 'Retry');
    const discard = h('button', {
      type: 'button',
      class: 'link-btn',
      onclick: () => {
        this.actions.discard(item);
        this.pending.delete(item);
        this.takeOut(el);
      },
    }, 'Discard');
    this.setStatus(el, [`Not sent: ${reason} `, retry, ' · ', discard]);
  }

  setStatus(el, content) {
    const status = el.querySelector('.status');
    if (!status) return;
    const parts = Array.isArray(content) ? content : [content];
    status.replaceChildren(...parts.filter((p) => p !== ''));
    status.hidden = !status.childNodes.length;
  }

  // ------------------------------------------------------- edit / delete

  startEdit(id) {
    const row = this.rows.get(id);
    if (!row || row.el.classList.contains('editing')) return;
    const { el, entry } = row;
    const textEl = el.querySelector('.text');
    if (el.classList.contains('undecryptable') || (this.codec.e2e && el.classList.contains('encrypted'))) {
      this.app.alert('This message cannot be read on this device, so it cannot be edited here.', 'warn');
      return;
    }
    const input = h('textarea', { class: 'edit-input', 'aria-label': 'Edit text', rows: '1', maxlength: String(MAX_LENGTH) });
    const original = typeof entry.msg.content === 'string' ? entry.msg.content : textEl.textContent;
    input.value = original;
    const close = () => {
      form.remove();
      textEl.hidden = false;
      el.classList.remove('editing');
    };
    const cancel = () => {
      close();
      this.fillText(el, entry.msg);
      const btn = el.querySelector('.act-edit');
      if (btn) btn.focus();
    };
    const save = async () => {
      const text = input.value.replace(/\s+$/u, '');
      if (!text.trim()) {
        this.app.alert('A message cannot be empty. Use Delete to remove it.');
        return;
      }
      if (text === original) {
        cancel();
        return;
      }
      try {
        await this.actions.saveEdit(id, text);
        close();
        // Live updates left the text alone while it was being edited.
        if (this.rows.has(id)) this.fillText(el, entry.msg);
        this.ui.input.focus();
      } catch (e) {
        this.app.alert(e.message || 'The message could not be edited.');
      }
    };
    const form = h('form', {
      class: 'edit-form',
      onsubmit: (e) => {
        e.preventDefault();
        save();
      },
    },
    input,
    h('div', { class: 'edit-actions' },
      h('span', { class: 'hint' }, 'Enter to save · Esc to cancel'),
      h('button', { type: 'button', class: 'ghost small', onclick: cancel }, 'Cancel'),
      h('button', { type: 'submit', class: 'small' }, 'Save')));
    input.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        save();
      } else if (e.key === 'Escape') {
        e.preventDefault();
        cancel();
      }
    });
    input.addEventListener('input', () => autosize(input, 240));
    el.classList.add('editing');
    textEl.hidden = true;
    textEl.after(form);
    autosize(input, 240);
    input.focus();
    input.setSelectionRange(input.value.length, input.value.length);
  }

  askDelete(id) {
    const row = this.rows.get(id);
    if (!row || row.el.querySelector('.confirm-bar')) return;
    const { el, entry } = row;
    const author = entry.msg.author;
    const bar = confirmBar({
      label: 'Confirm deletion',
      text: author === this.me ? 'Delete this message for everyone?' : `Delete ${author}'s message for everyone?`,
      yes: 'Delete',
      onNo: () => {
        bar.remove();
        el.classList.remove('confirming');
        const btn = el.querySelector('.act.danger');
        if (btn) btn.focus();
      },
      onYes: async () => {
        if (!(await this.actions.deleteMessage(id))) return false;
        this.ui.input.focus();
        return true;
      },
    });
    el.classList.add('confirming');
    el.querySelector('.body').append(bar);
    bar.cancel.focus();
  }

  // -------------------------------------------------------------- scroll

  atBottom(slack = 48) {
    const l = this.ui.log;
    return l.scrollHeight - l.scrollTop - l.clientHeight < slack;
  }

  /** Near enough the top that the next older page should load. */
  nearTop() {
    return this.ui.log.scrollTop < 200;
  }

  scrollToBottom() {
    const l = this.ui.log;
    l.scrollTop = l.scrollHeight;
    this.hidePill();
  }

  bumpUnseen() {
    this.unseen += 1;
    const pill = this.ui.pill;
    pill.replaceChildren(icon('down', { size: 14 }), 'New messages',
      h('span', { class: 'pill-count' }, String(this.unseen)));
    pill.hidden = false;
  }

  hidePill() {
    this.unseen = 0;
    this.ui.pill.hidden = true;
  }

  // ------------------------------------------------------ typing, presence

  typingFrom(name) {
    if (!name || name === this.me) return;
    clearTimeout(this.typing.get(name));
    this.typing.set(name, setTimeout(() => this.stopTyping(name), TYPING_SHOWN));
    this.renderTyping();
  }

  stopTyping(name) {
    if (!this.typing.has(name)) return;
    clearTimeout(this.typing.get(name));
    this.typing.delete(name);
    this.renderTyping();
  }

  renderTyping() {
    const names = [...this.typing.keys()];
    let text = '';
    if (names.length === 1) text = `${names[0]} is typing…`;
    else if (names.length === 2) text = `${names[0]} and ${names[1]} are typing…`;
    else if (names.length > 2) text = 'Several people are typing…';
    this.ui.typing.replaceChildren(...(text ? [h('span', { class: 'dots', 'aria-hidden': 'true' }, h('i'), h('i'), h('i')), text] : []));
  }

  /**
   * The `In this group` list: who is here, and in an E2E group every
   * member's key fingerprints (members with keys who are offline too: they
   * are the devices each message is encrypted for).
   */
  renderPresence(users) {
    if (this.closed) return;
    this.presence = users;
    const keys = this.codec.e2e && this.codec.keysByUser ? this.codec.keysByUser() : null;
    let list = users;
    if (keys) {
      const here = new Set(users.map((u) => u.username.toLowerCase()));
      const away = [...keys.keys()].filter((name) => !here.has(name.toLowerCase()))
        .map((username) => ({ username, ips: [], offline: true }));
      list = users.concat(away);
    }
    this.app.renderPeople(this.ui.members, list, keys ? { keys, self: this.codec.myFingerprint } : null);
    this.ui.membersCount.textContent = String(list.length);
    this.app.setOnlineCount(users.length);
  }

  /** The same list again (member keys or their trust changed). */
  refreshPresence() {
    this.renderPresence(this.presence);
  }

  /** Checks again every message shown as unverified (what this browser trusts changed). */
  recheckUnverified() {
    for (const { el, entry } of this.rows.values()) {
      if (el.classList.contains('not-verified')) this.fillText(el, entry.msg);
    }
  }
}
