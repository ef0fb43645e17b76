// One open conversation (a group or a DM): its socket, the message log,
// history paging, the outbox of unacknowledged messages, typing and
// presence. The page holds at most one Conversation at a time.

import { h, icon, avatar, randomId } from './dom.js';
import { hms, iso, dayKey, dayLabel, longTime } from './time.js';
import { api, wsUrl } from './api.js';
import { LiveSocket } from './socket.js';
import { codecFor, sameBody } from './e2e.js';

const PAGE = 50;
/** Messages by one author closer than this are shown as one block. */
const BLOCK_GAP = 5 * 60 * 1000;
/** Send a typing notice at most this often. */
const TYPING_EVERY = 2000;
/** Hide someone's typing notice after this long without another. */
const TYPING_SHOWN = 4000;
export const MAX_LENGTH = 4000;
/** System notices closer than this share a line. */
const SYSTEM_MERGE = 10 * 60 * 1000;

const ERROR_TEXT = {
  too_large: 'That message is too long: 4000 characters at most.',
  bad_request: 'The server could not read that message.',
  forbidden: 'You cannot post in this conversation.',
  internal: 'The server could not store that message. Please try again.',
};

export class Conversation {
  /**
   * @param app     the page controller (ui elements, me, alert(), socketState(), …)
   * @param target  {id, name, e2e, kind: 'group'|'dm', dmWith?}
   */
  constructor(app, target) {
    this.app = app;
    this.ui = app.ui;
    this.t = target;
    this.me = app.me.username;
    this.codec = codecFor(target, { api, me: app.me, trust: app.trust, alert: app.alert });
    /** The group's online users from the last hello/presence frame. */
    this.presence = [];
    /** Message text element → number of its latest decode (late results lose). */
    this.decodes = new WeakMap();
    /** id → {msg, el, at} for every message in the log; `at` is the tick of its last change. */
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
    this.typing = new Map();
    this.lastTypingSent = 0;
    this.helloSeen = false;
    this.connectedOnce = false;
    this.unseen = 0;
    this.closed = false;
    this.socket = null;
    this.timers = new Set();
  }

  // ---------------------------------------------------------------- life

  async start() {
    const { log } = this.ui;
    this.top = h('div', { class: 'log-top' });
    log.replaceChildren(this.top);
    this.setTop('loading');
    this.hidePill();
    this.renderTyping();
    if (this.codec.onChange) this.codec.onChange(() => this.renderPresence(this.presence));
    try {
      await this.codec.ready();
    } catch (e) {
      if (!this.closed) this.app.alert(e.message || 'Encryption keys could not be loaded.');
    }
    if (this.closed) return;
    this.app.updateComposer(this.codec);
    await this.loadLatest();
    if (this.closed) return;
    this.socket = new LiveSocket({
      url: () => this.socketUrl(),
      onFrame: (f) => this.onFrame(f),
      onState: (state, info) => this.onSocketState(state, info),
      onFailures: (n) => this.onFailures(n),
      onEnd: (ev) => this.onEnd(ev),
    }).start();
  }

  close() {
    this.closed = true;
    if (this.codec.close) this.codec.close();
    if (this.socket) this.socket.stop();
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const t of this.typing.values()) clearTimeout(t);
    this.typing.clear();
    this.ui.typing.replaceChildren();
    this.app.socketState('chat', 'stopped', {});
  }

  later(fn, ms) {
    const t = setTimeout(() => {
      this.timers.delete(t);
      if (!this.closed) fn();
    }, ms);
    this.timers.add(t);
    return t;
  }

  socketUrl() {
    const path = `/ws/chat/${this.t.id}`;
    // Resume after the newest message we have, so the server replays the gap.
    return wsUrl(this.historyLoaded ? `${path}?after=${this.newestId}` : path);
  }

  onSocketState(state, info) {
    if (state !== 'open' && this.helloSeen) {
      // The socket went away: whatever was in flight may or may not be stored.
      this.helloSeen = false;
      for (const item of this.inflight) {
        if (item.state === 'inflight') item.state = 'uncertain';
      }
      this.inflight = [];
    }
    this.app.socketState('chat', state, info);
  }

  async onFailures(n) {
    // A handshake that keeps failing may mean we are no longer a member
    // (403) or logged out (401, handled by api()). Ask only now and then.
    if (n % 5 !== 0) return;
    try {
      await api('GET', `/api/groups/${this.t.id}/online`);
    } catch (e) {
      if (!this.closed && (e.status === 403 || e.status === 404)) {
        this.socket.stop();
        this.app.onRemoved(this.t.id);
      }
    }
  }

  onEnd() {
    if (!this.closed) this.app.onRemoved(this.t.id);
  }

  // ------------------------------------------------------------- frames

  onFrame(f) {
    if (this.closed) return;
    switch (f.type) {
      case 'hello': return this.onHello(f);
      case 'message': return this.onMessage(f);
      case 'ack': return this.onAck(f);
      case 'edited': return this.onEdited(f);
      case 'deleted': return this.removeMessage(f.id);
      case 'presence':
        this.keysMayHaveChanged();
        return this.renderPresence(f.users || []);
      case 'system':
        if (/ joined$/u.test(f.text || '')) this.keysMayHaveChanged();
        return this.addSystem(f);
      case 'typing': return this.onTyping(f.username);
      case 'error': return this.onError(f);
      default: return undefined;
    }
  }

  onHello(f) {
    const reconnect = this.connectedOnce;
    this.connectedOnce = true;
    this.helloSeen = true;
    if (f.you && f.you.username) this.me = f.you.username;
    this.renderPresence(f.online || []);
    if (reconnect) this.keysMayHaveChanged();
    if (!this.historyLoaded) this.loadLatest();
    this.flush();
    if (reconnect || this.outbox.some((i) => i.state === 'uncertain')) {
      // Let the replay arrive first, then settle edits, deletions and
      // messages whose ack was lost with the old socket.
      this.later(() => this.reconcile(), 400);
    }
  }

  onMessage(m) {
    if (typeof m.id !== 'number') return;
    if (m.id > this.newestId) this.newestId = m.id;
    if (this.codec.observe) this.codec.observe(m);
    const known = this.byId.get(m.id);
    if (known) {
      this.updateMessage(known, m);
      return;
    }
    if (m.author === this.me) {
      // A replayed copy of a message whose ack we never got.
      const item = this.outbox.find((i) => i.state === 'uncertain' && sameBody(m, i.body));
      if (item) {
        this.confirm(item, m.id);
        this.updateMessage(this.byId.get(m.id), m);
        this.flush();
        return;
      }
    }
    const stick = this.atBottom();
    const el = this.renderMessage(m);
    this.remember(m, el);
    this.place(el, m.id);
    if (this.oldestId === null || m.id < this.oldestId) this.oldestId = m.id;
    this.stopTyping(m.author);
    if (stick || m.author === this.me) this.scrollToBottom();
    else this.bumpUnseen();
    this.app.noteActivity(this.t.id);
  }

  onAck(f) {
    const item = this.outbox.find((i) => i.cid === f.client_id);
    if (!item || typeof f.id !== 'number') return;
    if (f.id > this.newestId) this.newestId = f.id;
    this.confirm(item, f.id);
    this.flush();
  }

  onEdited(m) {
    const entry = this.byId.get(m.id);
    if (entry) this.updateMessage(entry, m);
  }

  onError(f) {
    const item = this.inflight.shift();
    if (f.code === 'rate_limited') {
      const wait = Math.max(250, Number(f.retry_after_ms) || 1000);
      if (item) {
        // Send it again when the server is ready for it; later messages wait behind it.
        item.state = 'held';
        this.later(() => {
          if (item.state === 'held') {
            item.state = 'queued';
            this.flush();
          }
        }, wait + 50);
      }
      this.app.alert(`You are sending messages too fast. ${item ? `Sending again in ${Math.ceil(wait / 1000)} s.` : ''}`.trim(), 'warn');
      return;
    }
    const text = (f.code === 'too_large' && this.codec.e2e ? 'That encrypted message is too large for the server.' : null)
      || ERROR_TEXT[f.code] || f.message || 'Something went wrong.';
    if (item) this.fail(item, text);
    this.app.alert(text);
    this.flush();
  }

  // ------------------------------------------------------------- history

  async loadLatest() {
    const { log } = this.ui;
    log.setAttribute('aria-busy', 'true');
    try {
      const data = await api('GET', `/api/groups/${this.t.id}/messages?limit=${PAGE}`);
      if (this.closed) return;
      await this.predecode(data.messages);
      if (this.closed) return;
      const fresh = !this.historyLoaded;
      this.historyLoaded = true;
      this.hasMore = !!data.has_more;
      const msgs = data.messages.slice().reverse().filter((m) => !this.byId.has(m.id) && !this.gone.has(m.id));
      for (const m of msgs) {
        if (m.id > this.newestId) this.newestId = m.id;
        if (this.oldestId === null || m.id < this.oldestId) this.oldestId = m.id;
        const el = this.renderMessage(m);
        this.remember(m, el);
        this.place(el, m.id, false);
      }
      this.reflowAll();
      this.setTop(this.hasMore ? 'more' : 'start');
      if (fresh) this.scrollToBottom();
      this.fill();
    } catch (e) {
      if (this.closed) return;
      if (e.status === 403 || e.status === 404) {
        this.app.onRemoved(this.t.id);
        return;
      }
      this.setTop('error');
    } finally {
      log.removeAttribute('aria-busy');
    }
  }

  /** Loads older pages while the log does not fill its box. */
  async fill() {
    const { log } = this.ui;
    while (!this.closed && this.hasMore && !this.olderFailed && log.scrollHeight <= log.clientHeight + 40) {
      if (!(await this.loadOlder())) break;
    }
  }

  /** The next older page, keeping what is on screen where it is. */
  async loadOlder() {
    if (this.loadingOlder || !this.hasMore || !this.historyLoaded || this.oldestId === null) return false;
    this.loadingOlder = true;
    this.setTop('loading');
    const { log } = this.ui;
    try {
      const data = await api('GET', `/api/groups/${this.t.id}/messages?before=${this.oldestId}&limit=${PAGE}`);
      if (this.closed) return false;
      await this.predecode(data.messages);
      if (this.closed) return false;
      const anchor = this.firstVisible();
      const before = anchor ? anchor.getBoundingClientRect().top : 0;
      this.hasMore = !!data.has_more;
      const older = data.messages.filter((m) => !this.byId.has(m.id) && !this.gone.has(m.id)).reverse();
      const frag = document.createDocumentFragment();
      const added = [];
      for (const m of older) {
        if (m.id < this.oldestId) this.oldestId = m.id;
        const el = this.renderMessage(m);
        this.remember(m, el);
        frag.append(el);
        added.push(el);
      }
      const next = this.top.nextElementSibling;
      this.top.after(frag);
      for (const el of added) this.reflow(el);
      this.reflow(next);
      this.olderFailed = false;
      this.setTop(this.hasMore ? 'more' : 'start');
      if (anchor) log.scrollTop += anchor.getBoundingClientRect().top - before;
      return true;
    } catch {
      this.olderFailed = true;
      this.setTop('error');
      return false;
    } finally {
      this.loadingOlder = false;
    }
  }

  /**
   * Decrypts a page of messages before it is shown, so the texts do not
   * change size (and move the scroll position) after they are placed.
   */
  async predecode(msgs) {
    if (!this.codec.e2e || !Array.isArray(msgs)) return;
    await Promise.all(msgs.map(async (m) => {
      try {
        await this.codec.decode(m);
      } catch {
        /* shown as undecryptable when rendered */
      }
    }));
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
        h('button', {
          type: 'button',
          class: 'link-btn',
          onclick: () => {
            this.olderFailed = false;
            if (this.historyLoaded) this.loadOlder();
            else this.loadLatest();
          },
        }, 'Try again')));
    }
    this.top.className = `log-top ${state}`;
    this.top.replaceChildren(...parts);
  }

  /**
   * After reconnecting: settles messages whose ack was lost (stored → adopt,
   * not stored → send again with the same client_id) and picks up edits and
   * deletions made while we were away. The answer is a snapshot taken when
   * it was asked for: messages, edits and deletions that arrived live while
   * it was on its way are newer, and it leaves them alone.
   */
  async reconcile() {
    if (this.closed || !this.helloSeen) return;
    const asked = this.tick;
    let data;
    try {
      data = await api('GET', `/api/groups/${this.t.id}/messages?limit=${PAGE}`);
    } catch {
      return;
    }
    if (this.closed) return;
    const msgs = data.messages;
    await this.predecode(msgs);
    if (this.closed) return;
    for (const item of this.outbox.filter((i) => i.state === 'uncertain')) {
      const hit = msgs.find((m) => m.author === this.me && !this.byId.has(m.id) && sameBody(m, item.body));
      if (hit) {
        this.confirm(item, hit.id);
        this.updateMessage(this.byId.get(hit.id), hit);
      } else {
        item.state = 'queued';
      }
    }
    const floor = data.has_more && msgs.length ? msgs[msgs.length - 1].id : 0;
    const live = new Map(msgs.map((m) => [m.id, m]));
    for (const [id, entry] of [...this.byId]) {
      if (entry.at <= asked && id >= floor && !live.has(id)) this.removeMessage(id);
    }
    for (const m of msgs.slice().reverse()) {
      if (this.gone.has(m.id)) continue;
      const entry = this.byId.get(m.id);
      if (entry) {
        if (entry.at <= asked) this.updateMessage(entry, m);
      } else if (this.oldestId === null || m.id > this.oldestId) this.onMessage(m);
    }
    this.flush();
  }

  // ------------------------------------------------------------- sending

  /** Queues a message; false when nothing was queued. */
  async send(text) {
    if (this.closed) return false;
    if (!this.codec.canSend) {
      this.app.alert(this.codec.reason);
      return false;
    }
    const clean = text.replace(/\s+$/u, '');
    if (!clean.trim()) return false;
    if ([...clean].length > MAX_LENGTH) {
      this.app.alert(ERROR_TEXT.too_large);
      return false;
    }
    let body;
    try {
      body = await this.codec.encode(clean);
    } catch (e) {
      this.app.alert(e.message || 'The message could not be encrypted.');
      return false;
    }
    if (this.closed) return false;
    const item = { cid: randomId(), body, text: clean, state: 'queued', createdAt: Date.now(), el: null };
    item.el = this.renderMessage({ author: this.me, created_at: item.createdAt, edited_at: null }, { pendingText: clean });
    this.setStatus(item.el, 'sending…');
    this.ui.log.append(item.el);
    this.reflow(item.el);
    this.outbox.push(item);
    this.scrollToBottom();
    this.flush();
    return true;
  }

  /**
   * Sends the next queued message when the socket is ready. One message is
   * in flight at a time (the next goes on its ack or error): with several in
   * flight, the server could refuse one under its rate limit and accept a
   * later one after its bucket refilled, storing them out of order.
   */
  flush() {
    if (this.closed || !this.helloSeen || !this.socket || !this.socket.isOpen) return;
    for (const item of this.outbox) {
      if (item.state === 'held' || item.state === 'inflight') break;
      if (item.state !== 'queued') continue;
      if (!this.socket.send({ type: 'message', ...item.body, client_id: item.cid })) return;
      item.state = 'inflight';
      this.inflight.push(item);
      this.setStatus(item.el, 'sending…');
      break;
    }
  }

  /** A pending message is stored as `id`. */
  confirm(item, id) {
    const at = this.outbox.indexOf(item);
    if (at >= 0) this.outbox.splice(at, 1);
    this.inflight = this.inflight.filter((i) => i !== item);
    item.state = 'done';
    const el = item.el;
    const next = el.nextElementSibling;
    el.remove();
    this.reflow(next);
    if (this.byId.has(id)) return;
    const msg = { id, group_id: this.t.id, author: this.me, created_at: item.createdAt, edited_at: null, ...item.body };
    el.classList.remove('pending', 'failed');
    el.dataset.id = String(id);
    this.setStatus(el, '');
    this.remember(msg, el);
    if (this.oldestId === null) this.oldestId = id;
    this.place(el, id);
    this.addActions(el, id);
    if (this.atBottom(120)) this.scrollToBottom();
  }

  fail(item, reason) {
    item.state = 'failed';
    item.el.classList.add('failed');
    const retry = h('button', {
      type: 'button',
      class: 'link-btn',
      onclick: () => {
        item.state = 'queued';
        item.el.classList.remove('failed');
        this.setStatus(item.el, 'sending…');
        this.flush();
      },
    }, 'Retry');
    const discard = h('button', {
      type: 'button',
      class: 'link-btn',
      onclick: () => {
        const at = this.outbox.indexOf(item);
        if (at >= 0) this.outbox.splice(at, 1);
        const next = item.el.nextElementSibling;
        item.el.remove();
        this.reflow(next);
      },
    }, 'Discard');
    this.setStatus(item.el, [`Not sent: ${reason} `, retry, ' · ', discard]);
  }

  setStatus(el, content) {
    const status = el.querySelector('.status');
    if (!status) return;
    const parts = Array.isArray(content) ? content : [content];
    status.replaceChildren(...parts.filter((p) => p !== ''));
    status.hidden = !status.childNodes.length;
  }

  // -------------------------------------------------------------- typing

  onInput() {
    if (!this.codec.canSend || !this.helloSeen) return;
    const now = Date.now();
    if (this.ui.input.value.trim() && now - this.lastTypingSent >= TYPING_EVERY) {
      if (this.socket.send({ type: 'typing' })) this.lastTypingSent = now;
    }
  }

  onTyping(name) {
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

  // ------------------------------------------------------------ presence

  /** In an E2E group the member keys may have changed: fetch them again soon. */
  keysMayHaveChanged() {
    if (this.codec.refreshSoon) this.codec.refreshSoon();
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

  // ------------------------------------------------------------ messages

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
    if (mine && typeof m.id === 'number') this.addActions(el, m.id);
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

  addActions(el, id) {
    if (el.querySelector('.actions')) return;
    const canEdit = this.codec.canSend;
    el.append(h('div', { class: 'actions', role: 'group', 'aria-label': 'Actions' },
      canEdit ? h('button', { type: 'button', class: 'act', onclick: () => this.startEdit(id) }, 'Edit') : null,
      h('button', { type: 'button', class: 'act danger', onclick: () => this.askDelete(id) }, 'Delete')));
  }

  /** Records a message shown in the log. */
  remember(m, el) {
    this.tick += 1;
    this.byId.set(m.id, { msg: m, el, at: this.tick });
  }

  updateMessage(entry, m) {
    const old = entry.msg;
    const el = entry.el;
    this.tick += 1;
    entry.at = this.tick;
    entry.msg = { ...old, ...m };
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

  removeMessage(id) {
    this.gone.add(id);
    const entry = this.byId.get(id);
    if (!entry) return;
    this.byId.delete(id);
    const next = entry.el.nextElementSibling;
    entry.el.remove();
    this.reflow(next);
  }

  /**
   * A system notice ("alice joined" / "alice left"). Notices in a row share
   * one line, and a "left" followed by "joined" of the same person (a
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
    if (m && last && last.classList.contains('sys') && at - Number(last.dataset.ts) < SYSTEM_MERGE) {
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
    const entry = h('span', { class: 'sys-entry', dataset: m ? { name: m[1], verb: m[2] } : {} }, text);
    const el = h('div', { class: 'item sys', dataset: { ts: String(at) } },
      h('div', { class: 'sys-line' },
        h('span', { class: 'sys-text' }, entry),
        h('time', { datetime: iso(at), title: longTime(at) }, hms(at))));
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

  // ------------------------------------------------------- edit / delete

  startEdit(id) {
    const entry = this.byId.get(id);
    if (!entry || entry.el.classList.contains('editing')) return;
    const el = entry.el;
    const textEl = el.querySelector('.text');
    if (el.classList.contains('undecryptable') || (this.codec.e2e && el.classList.contains('encrypted'))) {
      this.app.alert('This message cannot be read on this device, so it cannot be edited here.', 'warn');
      return;
    }
    const input = h('textarea', { class: 'edit-input', 'aria-label': 'Edit text', rows: '1', maxlength: String(MAX_LENGTH) });
    const original = typeof entry.msg.content === 'string' ? entry.msg.content : textEl.textContent;
    input.value = original;
    const cancel = () => {
      form.remove();
      textEl.hidden = false;
      el.classList.remove('editing');
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
        const body = await this.codec.encode(text);
        const updated = await api('PATCH', `/api/messages/${id}`, body);
        const current = this.byId.get(id);
        if (current) {
          current.el.classList.remove('editing');
          this.updateMessage(current, updated);
          this.fillText(current.el, current.msg);
        }
        form.remove();
        textEl.hidden = false;
        el.classList.remove('editing');
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

  /** Edits my newest message (ArrowUp in an empty composer). */
  editLast() {
    const mine = [...this.byId.values()].filter((e) => e.msg.author === this.me);
    if (!mine.length || !this.codec.canSend) return false;
    const last = mine.reduce((a, b) => (a.msg.id > b.msg.id ? a : b));
    this.startEdit(last.msg.id);
    return true;
  }

  askDelete(id) {
    const entry = this.byId.get(id);
    if (!entry || entry.el.querySelector('.confirm-bar')) return;
    const el = entry.el;
    const done = () => {
      bar.remove();
      el.classList.remove('confirming');
    };
    const no = h('button', {
      type: 'button',
      class: 'ghost small',
      onclick: () => {
        done();
        const btn = el.querySelector('.act.danger');
        if (btn) btn.focus();
      },
    }, 'Cancel');
    const yes = h('button', {
      type: 'button',
      class: 'danger small',
      onclick: async () => {
        yes.disabled = true;
        try {
          await api('DELETE', `/api/messages/${id}`);
          this.removeMessage(id);
          this.ui.input.focus();
        } catch (e) {
          yes.disabled = false;
          if (e.status === 404) this.removeMessage(id);
          else this.app.alert(e.message || 'The message could not be deleted.');
        }
      },
    }, 'Delete');
    const bar = h('div', { class: 'confirm-bar', role: 'group', 'aria-label': 'Confirm deletion' },
      h('span', {}, 'Delete this message for everyone?'), no, yes);
    bar.addEventListener('keydown', (e) => {
      if (e.key === 'Escape') no.click();
    });
    el.classList.add('confirming');
    el.querySelector('.body').append(bar);
    no.focus();
  }

  // -------------------------------------------------------------- scroll

  atBottom(slack = 48) {
    const l = this.ui.log;
    return l.scrollHeight - l.scrollTop - l.clientHeight < slack;
  }

  scrollToBottom() {
    const l = this.ui.log;
    l.scrollTop = l.scrollHeight;
    this.hidePill();
  }

  onScroll() {
    if (this.atBottom()) this.hidePill();
    if (this.ui.log.scrollTop < 200 && this.hasMore && !this.olderFailed) this.loadOlder();
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
}

/** Grows a textarea with its content up to `max` pixels. */
export function autosize(el, max = 200) {
  el.style.height = 'auto';
  el.style.height = `${Math.min(el.scrollHeight + 2, max)}px`;
}
