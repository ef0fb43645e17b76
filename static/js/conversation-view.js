// How one open conversation looks: the message log (day dividers, blocks by
// one author, pending and failed sends, system notices), editing and
// deleting in place (owners and admins delete others' messages too),
// scrolling and the "New messages" pill, who is typing and who is here. It is told what changed (conversation.js passes on the
// model's reports) and hands what the user asks for to `actions`; what it
// keeps is only what is on screen. Text goes in through dom.js's h() and
// textContent only, so it is escaped by construction.

import { h, icon, avatar, autosize, confirmBar } from './dom.js';
import { hms, iso, dayKey, dayLabel, longTime } from './time.js';
import { sameBody } from './e2e.js';
import { MAX_LENGTH } from './conversation-model.js';

/** Messages by one author closer than this are shown as one block. */
const BLOCK_GAP = 5 * 60 * 1000;
/** Hide someone's typing notice after this long without another. */
const TYPING_SHOWN = 4000;
/** System notices closer than this share a line. */
const SYSTEM_MERGE = 10 * 60 * 1000;
/** A message a moderator deleted says so this long before it goes. */
const DELETED_SHOWN = 3000;

export class ConversationView {
  /**
   * @param app      the page (ui elements, alert(), renderPeople(), setOnlineCount())
   * @param target   {id, name, e2e, kind: 'group'|'dm'}
   * @param codec    the conversation's codec (e2e.js): decodes texts, says whether we can send
   * @param actions  {me(), retryHistory(), saveEdit(id, text), deleteMessage(id), retry(item), discard(item)}
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

  /** A message took on the fields of `m` (`old`: what it showed before). */
  update(entry, old, m) {
    if (entry.msg.system) return;
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
    if (old.edited_at !== m.edited_at || !sameBody(old, m)) {
      if (!el.classList.contains('editing')) this.fillText(el, entry.msg);
      const edited = el.querySelector('.edited');
      edited.hidden = !m.edited_at;
      if (m.edited_at) edited.title = `Edited ${longTime(m.edited_at)}`;
    }
  }

  /** A message was deleted; `by` a moderator (someone else): it says so for a moment. */
  remove(id, by = null) {
    const row = this.rows.get(id);
    if (!row) return;
    this.rows.delete(id);
    const { el, entry } = row;
    if (!by || by === this.me || entry.msg.system) {
      this.takeOut(el);
      return;
    }
    const textEl = el.querySelector('.text');
    this.decodes.set(textEl, (this.decodes.get(textEl) || 0) + 1);
    for (const part of el.querySelectorAll('.actions, .edit-form, .confirm-bar')) part.remove();
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
    el.remove();
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
    if (pendingText !== null) el.querySelector('.text').textContent = pendingText;
    else this.fillText(el, m);
    if (typeof m.id === 'number' && (mine || this.moderator)) this.addActions(el, m.id, mine);
    return el;
  }

  fillText(el, m) {
    const textEl = el.querySelector('.text');
    const seq = (this.decodes.get(textEl) || 0) + 1;
    this.decodes.set(textEl, seq);
    const apply = (r, late) => {
      if (this.decodes.get(textEl) !== seq) return;
      const stick = late && this.atBottom();
      if (r.failed) textEl.replaceChildren(icon(r.icon || 'lock', { size: 13, cls: 'text-icon' }), ' ', r.text);
      else textEl.textContent = r.text;
      if (r.title) textEl.title = r.title;
      else textEl.removeAttribute('title');
      el.classList.toggle('encrypted', !!r.encrypted);
      el.classList.toggle('undecryptable', !!r.failed);
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

  /** Edit (the author's own, where they can send) and Delete (own, or anyone's for moderators). */
  addActions(el, id, mine) {
    if (el.querySelector('.actions')) return;
    const canEdit = mine && this.codec.canSend;
    el.append(h('div', { class: 'actions', role: 'group', 'aria-label': 'Actions' },
      canEdit ? h('button', { type: 'button', class: 'act', onclick: () => this.startEdit(id) }, 'Edit') : null,
      h('button', { type: 'button', class: 'act danger', onclick: () => this.askDelete(id) }, 'Delete')));
  }

  /** Moderators see Delete on everyone's messages; others, on their own only. */
  setModerator(on) {
    if (this.moderator === on) return;
    this.moderator = on;
    for (const [id, { el, entry }] of this.rows) {
      const m = entry.msg;
      if (m.system || m.author === this.me) continue;
      if (on) this.addActions(el, id, false);
      else {
        const bar = el.querySelector('.actions');
        if (bar) bar.remove();
      }
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
    const el = this.renderMessage({ author: this.me, created_at: item.createdAt, edited_at: null }, { pendingText: item.text });
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
    el.classList.remove('pending', 'failed');
    el.dataset.id = String(id);
    this.setStatus(el, '');
    this.rows.set(id, { el, entry });
    this.place(el, id);
    this.addActions(el, id, true);
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
      const btn = el.querySelector('.act');
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
}
