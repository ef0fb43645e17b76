// One open conversation (a group or a DM), wired together: its socket and
// the history API on one side, the model (conversation-model.js: what the
// log holds, the outbox, paging) and the view (conversation-view.js: the
// DOM) on the other. Frames and pages go to the model, whose reports of
// what changed go to the view; what the user does in the view comes back
// here. A group (not a DM) also has its members panel (members.js), told
// when a system line says the membership changed. The page holds at most
// one Conversation at a time.
//
// It also owns what the composer does for this conversation (the reply
// bar, @mention autocomplete: mentions.js, attached files: uploads.js),
// reactions (reactions.js), the
// read position (the "New since you left" divider, and telling the server
// how far I read), and the hooks the page shell uses: jumpTo(id),
// searchLoaded(pred) and the `securechat:message` window event.

import { h, randomId } from './dom.js';
import { api, wsUrl } from './api.js';
import { LiveSocket, SESSION_ENDED } from './socket.js';
import { codecFor } from './e2e.js';
import { ConversationModel, MAX_LENGTH } from './conversation-model.js';
import { ConversationView } from './conversation-view.js';
import { MembersPanel } from './members.js';
import { can } from './roles.js';
import { MentionAutocomplete, mentionedNames } from './mentions.js';
import { react } from './reactions.js';
import { Uploads } from './uploads.js';
import { applyPresenceDelta } from './presence.js';

const PAGE = 50;
/** Send a typing notice at most this often. */
const TYPING_EVERY = 2000;
/** Wait this long after the reader reached the bottom before telling the server. */
const READ_DELAY = 700;
/** Ask the replay for changes a little before the last frame (clocks differ). */
const SINCE_SLACK = 5000;
/** Jumping to an old message loads at most this many older pages. */
const JUMP_PAGES = 40;
/** Opening a conversation loads at most this many older pages to find the first unread one. */
const UNREAD_PAGES = 4;

const ERROR_TEXT = {
  too_large: `That message is too long: ${MAX_LENGTH} characters at most.`,
  bad_request: 'The server could not read that message.',
  forbidden: 'You cannot post in this conversation.',
  internal: 'The server could not store that message. Please try again.',
};

export class Conversation {
  /**
   * @param app     the page controller (ui elements, me, alert(), socketState(), …)
   * @param target  {id, name, e2e, private, role, kind: 'group'|'dm', dmWith?}
   */
  constructor(app, target) {
    this.app = app;
    this.t = target;
    this.codec = codecFor(target, { api, me: app.me, trust: app.trust, alert: app.alert });
    this.model = new ConversationModel(target.id, app.me.username, {
      seen: (m) => {
        if (this.codec.observe) this.codec.observe(m);
      },
      added: (entry) => {
        this.view.showLive(entry);
        if (entry.msg.system) this.membershipMayHaveChanged();
        else this.app.noteActivity(this.t.id);
      },
      changed: (entry, old, m) => this.view.update(entry, old, m),
      removed: (id, by) => this.view.remove(id, by),
      confirmed: (item, entry) => this.view.confirm(item, entry),
    });
    this.view = new ConversationView(app, target, this.codec, {
      me: () => this.model.me,
      retryHistory: () => {
        this.model.olderFailed = false;
        if (this.model.historyLoaded) this.loadOlder();
        else this.loadLatest();
      },
      saveEdit: (id, text) => this.saveEdit(id, text),
      deleteMessage: (id) => this.deleteMessage(id),
      retry: (item) => {
        this.model.retry(item);
        this.flush();
      },
      discard: (item) => this.model.discard(item),
      reply: (id) => this.startReply(id),
      react: (id, emoji, on) => this.react(id, emoji, on),
      jumpTo: (id) => this.jumpTo(id),
    });
    this.view.moderator = this.isModerator(target.role);
    this.members = target.kind === 'group' ? new MembersPanel(app, target, (role) => this.setRole(role)) : null;
    this.lastTypingSent = 0;
    this.closed = false;
    this.socket = null;
    this.timers = new Set();
    /** The message the composer answers ({id, author, excerpt}), or null. */
    this.replyTo = null;
    /** A DM's people (a group's come from its members panel). */
    this.dmNames = target.kind === 'dm' ? [app.me.username, ...(target.dmWith ? [target.dmWith] : [])] : [];
    /** When the last frame arrived (Unix ms): the replay's `since`. */
    this.lastFrameAt = 0;
    /** The socket was opened with ?after= (the server replays what we missed). */
    this.replaying = false;
    this.readTimer = null;
    this.readSending = false;
    /** Where the shell asked to go once the first page is in (a search hit, a notification). */
    this.initialJump = target.jumpTo != null ? Number(target.jumpTo) : null;
    const entry = this.appEntry();
    this.model.readTo(entry && typeof entry.last_read_id === 'number' ? entry.last_read_id : null);
    let loaded;
    this.loaded = new Promise((resolve) => { loaded = resolve; });
    this.markLoaded = loaded;
    this.onVisible = () => this.readSoon();
  }

  /** Members' usernames, for @mentions: the members panel's list (it follows joins and removals). */
  get memberNames() {
    if (this.members && Array.isArray(this.members.members)) return this.members.members.map((m) => m.username);
    return this.dmNames;
  }

  /** The page's list entry for this conversation (groups or DMs), if any. */
  appEntry() {
    const list = this.t.kind === 'dm' ? this.app.dms : this.app.groups;
    return list && list.get ? list.get(this.t.id) : null;
  }

  // ---------------------------------------------------------------- life

  async start() {
    this.view.start();
    this.startComposer();
    document.addEventListener('visibilitychange', this.onVisible);
    if (this.members) this.members.start();
    if (this.codec.onChange) this.codec.onChange(() => this.view.refreshPresence());
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
    this.stopComposer();
    document.removeEventListener('visibilitychange', this.onVisible);
    this.markLoaded(false);
    if (this.codec.close) this.codec.close();
    if (this.socket) this.socket.stop();
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.view.close();
    if (this.members) this.members.close();
    this.app.socketState('chat', 'stopped', {});
  }

  /** Owners and admins of a group delete others' messages too. */
  isModerator(role) {
    return this.t.kind === 'group' && can(role, 'deleteAnyMessage');
  }

  /** The user's role here changed (the socket's hello, or the members list). */
  setRole(role) {
    if (this.closed) return;
    this.t.role = role;
    this.app.noteRole(this.t.id, role);
    this.view.setModerator(this.isModerator(role));
    if (this.members && this.members.role !== role) this.members.setRole(role);
  }

  /** The conversation's name changed (`this.t` has the new one). */
  retitle() {
    this.view.retitle();
    if (this.members) this.members.retitle();
  }

  /** A stored system line: someone was added, removed, given a role, joined with a link… */
  membershipMayHaveChanged() {
    if (this.members) this.members.refreshSoon();
    this.keysMayHaveChanged();
  }

  /** A live "alice joined" (her first socket here opened): see MembersPanel.cameOnline(). */
  someoneCame(text) {
    const joined = /^(.+) joined$/u.exec(text);
    if (!joined) return;
    this.keysMayHaveChanged();
    if (this.members) this.members.cameOnline(joined[1]);
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
    // Resume after the newest message we have, so the server replays the
    // gap, and the edits, deletions and reactions since the last frame.
    this.replaying = this.model.historyLoaded;
    if (!this.replaying) return wsUrl(path);
    const since = this.lastFrameAt ? `&since=${Math.max(0, this.lastFrameAt - SINCE_SLACK)}` : '';
    return wsUrl(`${path}?after=${this.model.newestId}${since}`);
  }

  onSocketState(state, info) {
    if (state !== 'open') this.model.socketLost();
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

  onEnd(ev) {
    if (this.closed) return;
    if (ev && ev.code === SESSION_ENDED) this.app.sessionEnded();
    else this.app.onRemoved(this.t.id);
  }

  // ------------------------------------------------------------- frames

  onFrame(f) {
    if (this.closed) return;
    this.lastFrameAt = Date.now();
    switch (f.type) {
      case 'hello': return this.onHello(f);
      case 'message': {
        const fresh = typeof f.id === 'number' && !this.model.byId.has(f.id) && !this.model.gone.has(f.id);
        if (this.model.receive(f)) this.flush();
        if (fresh && this.model.byId.has(f.id)) this.announce(this.model.byId.get(f.id).msg);
        this.readSoon();
        return undefined;
      }
      case 'reactions': return this.model.reactions(f);
      case 'read': return this.onRead(f);
      case 'ack':
        if (this.model.ack(f)) this.flush();
        return undefined;
      case 'edited': return this.model.edited(f);
      case 'deleted': return this.model.remove(f.id, f.by || null);
      case 'presence':
        this.keysMayHaveChanged();
        return this.view.renderPresence(f.users || []);
      case 'presence_delta': {
        // Large rooms: only what changed (PROTOCOL "Presence in large rooms"),
        // and no "alice joined" lines: an arrival is seen here instead.
        this.keysMayHaveChanged();
        const before = new Set((this.view.presence || []).map((u) => u.username));
        for (const u of Array.isArray(f.joined) ? f.joined : []) {
          if (u && typeof u.username === 'string' && !before.has(u.username) && this.members) {
            this.members.cameOnline(u.username);
          }
        }
        return this.view.renderPresence(applyPresenceDelta(this.view.presence || [], f));
      }
      case 'system':
        if (typeof f.id === 'number') return this.model.systemLine(f);
        this.someoneCame(f.text || '');
        return this.view.addSystem(f);
      case 'group_updated':
        if (f.group) this.app.updateGroup(f.group, false);
        return undefined;
      case 'typing': return this.view.typingFrom(f.username);
      case 'keys_changed': return this.app.keysChanged ? this.app.keysChanged(f) : this.keysMayHaveChanged();
      case 'error': return this.onError(f);
      default: return undefined;
    }
  }

  onHello(f) {
    const reconnect = this.model.hello(f);
    if (f.group && typeof f.group.last_read_id === 'number') this.onRead({ last_read_id: f.group.last_read_id });
    if (f.group && this.t.kind === 'group') {
      this.app.updateGroup(f.group);
      this.setRole(f.group.role || null);
      if (reconnect && this.members) this.members.refreshSoon();
    }
    this.view.renderPresence(f.online || []);
    this.readSoon();
    if (reconnect) this.keysMayHaveChanged();
    if (!this.model.historyLoaded) this.loadLatest();
    this.flush();
    // The replay (?after=&since=) brings the messages, edits, deletions and
    // reactions we missed. Without one (no history yet), or with sends
    // whose ack was lost with the old socket, read the newest page again:
    // let the replay arrive first, then settle.
    if (this.model.hasUncertain() || (reconnect && !this.replaying)) {
      this.later(() => this.reconcile(), 400);
    }
  }

  /** My read position moved (another device of mine read further, or the hello says where it is). */
  onRead(f) {
    if (!this.model.readTo(Number(f.last_read_id))) return;
    const entry = this.appEntry();
    if (entry && (typeof entry.last_read_id !== 'number' || entry.last_read_id < this.model.lastReadId)) {
      entry.last_read_id = this.model.lastReadId;
    }
  }

  onError(f) {
    const item = this.model.refused(f.client_id);
    if (f.code === 'rate_limited') {
      const wait = Math.max(250, Number(f.retry_after_ms) || 1000);
      if (item) {
        // Send it again when the server is ready for it; later messages wait behind it.
        this.model.hold(item);
        this.later(() => {
          if (this.model.release(item)) this.flush();
        }, wait + 50);
      }
      this.app.alert(`You are sending messages too fast. ${item ? `Sending again in ${Math.ceil(wait / 1000)} s.` : ''}`.trim(), 'warn');
      return;
    }
    const text = (f.code === 'too_large' && this.codec.e2e ? 'That encrypted message is too large for the server.' : null)
      || ERROR_TEXT[f.code] || f.message || 'Something went wrong.';
    if (item) {
      this.model.fail(item);
      this.view.failed(item, text);
    }
    this.app.alert(text);
    this.flush();
  }

  // ------------------------------------------------------------- history

  async loadLatest() {
    this.view.busy(true);
    try {
      const data = await api('GET', `/api/groups/${this.t.id}/messages?limit=${PAGE}`);
      if (this.closed) return;
      await this.predecode(data.messages);
      if (this.closed) return;
      const { fresh, added } = this.model.addLatest(data);
      this.view.showLatest(added);
      this.view.setTop(this.model.hasMore ? 'more' : 'start');
      if (fresh) {
        this.view.scrollToBottom();
        await this.showUnread();
        if (this.closed) return;
        this.markLoaded(true);
        if (this.initialJump != null) {
          const id = this.initialJump;
          this.initialJump = null;
          this.jumpTo(id);
        }
      }
      this.fill();
      this.readSoon();
    } catch (e) {
      if (this.closed) return;
      if (e.status === 403 || e.status === 404) {
        this.app.onRemoved(this.t.id);
        return;
      }
      this.view.setTop('error');
    } finally {
      this.view.busy(false);
    }
  }

  /**
   * Opening: the "New since you left" divider above the first message by
   * someone else after my read position (loading a few older pages to find
   * it), scrolled to; none when everything was read.
   */
  async showUnread() {
    const read = this.model.lastReadId;
    if (read === null || read >= this.model.newestId) return;
    // Unread messages up to the top of what is loaded may go on further back.
    const reachesTop = () => {
      const first = this.model.firstUnread();
      return first && first.msg.id === this.model.oldestUnreadCandidate();
    };
    for (let i = 0; i < UNREAD_PAGES && this.model.hasMore && this.model.oldestId > read + 1 && reachesTop(); i += 1) {
      if (!(await this.loadOlder()) || this.closed) break;
    }
    const first = this.model.firstUnread();
    if (!first) return;
    this.view.markUnread(first.msg.id);
    this.view.scrollToUnread();
  }

  /** Loads older pages while the log does not fill its box. */
  async fill() {
    while (!this.closed && this.model.hasMore && !this.model.olderFailed && this.view.underfilled()) {
      if (!(await this.loadOlder())) break;
    }
  }

  /** The next older page, keeping what is on screen where it is. */
  async loadOlder() {
    if (!this.model.canLoadOlder()) return false;
    this.model.loadingOlder = true;
    this.view.setTop('loading');
    try {
      const data = await api('GET', `/api/groups/${this.t.id}/messages?before=${this.model.oldestId}&limit=${PAGE}`);
      if (this.closed) return false;
      await this.predecode(data.messages);
      if (this.closed) return false;
      const added = this.model.addOlder(data);
      this.model.olderFailed = false;
      this.view.showOlder(added, this.model.hasMore ? 'more' : 'start');
      return true;
    } catch {
      this.model.olderFailed = true;
      this.view.setTop('error');
      return false;
    } finally {
      this.model.loadingOlder = false;
    }
  }

  /**
   * Decrypts a page of messages before it is shown, so the texts do not
   * change size (and move the scroll position) after they are placed.
   */
  async predecode(msgs) {
    if (!this.codec.e2e || !Array.isArray(msgs)) return;
    await Promise.all(msgs.filter((m) => !m.system).map(async (m) => {
      try {
        await this.codec.decode(m);
      } catch {
        /* shown as undecryptable when rendered */
      }
    }));
  }

  /** After reconnecting: the newest page again, settled by the model (see its reconcile()). */
  async reconcile() {
    if (this.closed || !this.model.helloSeen) return;
    const asked = this.model.tick;
    let data;
    try {
      data = await api('GET', `/api/groups/${this.t.id}/messages?limit=${PAGE}`);
    } catch {
      return;
    }
    if (this.closed) return;
    await this.predecode(data.messages);
    if (this.closed) return;
    this.model.reconcile(data, asked);
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
    // Files still uploading are waited for; they go with this message.
    const files = this.uploads ? await this.uploads.take() : [];
    const giveBack = () => {
      if (this.uploads) this.uploads.release(files);
      return false;
    };
    if (this.closed) return false;
    if (!clean.trim() && !files.length) return giveBack();
    if ([...clean].length > MAX_LENGTH) {
      this.app.alert(ERROR_TEXT.too_large);
      return giveBack();
    }
    let body;
    try {
      body = await this.codec.encode(clean, { files: files.map((f) => f.meta).filter(Boolean) });
    } catch (e) {
      this.app.alert(e.message || 'The message could not be encrypted.');
      return giveBack();
    }
    if (this.closed) return false;
    const mentions = mentionedNames(clean, this.memberNames, this.model.me);
    const shown = { reply_to: this.replyTo, mentions };
    if (files.length) {
      body.attachments = files.map((f) => f.result.id);
      shown.attachments = files.map((f) => ({ ...f.result, label: f.meta ? f.meta.name : f.result.name }));
      this.uploads.consume(files);
    }
    if (this.replyTo) body.reply_to = this.replyTo.id;
    // The server reads mentions out of plain text itself; an encrypted text it cannot read.
    if (this.codec.e2e && mentions.length) body.mentions = mentions;
    this.cancelReply(false);
    this.view.addPending(this.model.queue(randomId(), body, clean, shown));
    this.flush();
    return true;
  }

  /** Sends the next queued message when the socket is ready (one at a time: see the model's next()). */
  flush() {
    if (this.closed || !this.socket || !this.socket.isOpen) return;
    const item = this.model.next();
    if (!item || !this.socket.send({ type: 'message', ...item.body, client_id: item.cid })) return;
    this.model.sent(item);
    this.view.sending(item);
  }

  /** Saves an edit the user made in the view; throws when it could not be saved. */
  async saveEdit(id, text) {
    // An encrypted message's file keys are in its plaintext: the edit keeps them.
    let files = [];
    const old = this.model.byId.get(id);
    if (this.codec.e2e && old) {
      const r = await Promise.resolve(this.codec.decode(old.msg)).catch(() => null);
      files = (r && !r.failed && r.files) || [];
    }
    const body = await this.codec.encode(text, { files });
    const updated = await api('PATCH', `/api/messages/${id}`, body);
    const entry = this.model.byId.get(id);
    if (entry) this.model.update(entry, updated);
  }

  /** Deletes message `id` for everyone; true when this did it (false: already gone, or refused). */
  async deleteMessage(id) {
    try {
      await api('DELETE', `/api/messages/${id}`);
      this.model.remove(id);
      return true;
    } catch (e) {
      if (e.status === 404) this.model.remove(id);
      else this.app.alert(e.message || 'The message could not be deleted.');
      return false;
    }
  }

  /** Edits my newest message (ArrowUp in an empty composer). */
  editLast() {
    const last = this.model.lastMine();
    if (!last || !this.codec.canSend) return false;
    this.view.startEdit(last.msg.id);
    return true;
  }

  // ------------------------------------------------ the page's own events

  /** The composer's text changed: tell the others we are typing, now and then. */
  onInput(text) {
    if (!this.codec.canSend || !this.model.helloSeen) return;
    const now = Date.now();
    if (text.trim() && now - this.lastTypingSent >= TYPING_EVERY) {
      if (this.socket.send({ type: 'typing' })) this.lastTypingSent = now;
    }
  }

  onScroll() {
    if (this.view.atBottom()) {
      this.view.hidePill();
      this.readSoon();
    }
    if (this.view.nearTop() && this.model.hasMore && !this.model.olderFailed) this.loadOlder();
  }

  /** In an E2E group the member keys may have changed: fetch them again soon. */
  keysMayHaveChanged() {
    if (this.codec.refreshSoon) this.codec.refreshSoon();
  }
}

// ------------------------------------------------------------------------
// Conversation features: composer (replies, mentions), reactions, read
// position, jumping, and the hooks for the page shell.

Object.assign(Conversation.prototype, {
  /** The reply bar and the mention autocomplete, on the page's composer. */
  startComposer() {
    const $ = (id) => document.getElementById(id);
    this.bar = { el: $('reply-bar'), text: $('reply-bar-text'), cancel: $('reply-cancel') };
    const list = $('mention-list');
    if (list && this.app.ui.input.form) {
      this.mentions = new MentionAutocomplete(this.app.ui.input, list, () => this.memberNames, () => this.model.me).attach();
    }
    this.onComposerKey = (e) => {
      if (e.key === 'Escape' && this.replyTo && !e.defaultPrevented) {
        e.preventDefault();
        e.stopPropagation();
        this.cancelReply();
      }
    };
    this.onCancelClick = () => this.cancelReply();
    if (this.app.ui.composer) this.app.ui.composer.addEventListener('keydown', this.onComposerKey, true);
    if (this.bar.cancel) this.bar.cancel.addEventListener('click', this.onCancelClick);
    this.cancelReply(false);
    this.uploads = new Uploads(this.t.id, this.codec, (text) => this.app.alert(text)).attach();
  },

  stopComposer() {
    if (this.uploads) this.uploads.detach();
    if (this.mentions) this.mentions.detach();
    if (this.app.ui.composer && this.onComposerKey) this.app.ui.composer.removeEventListener('keydown', this.onComposerKey, true);
    if (this.bar && this.bar.cancel) this.bar.cancel.removeEventListener('click', this.onCancelClick);
    this.cancelReply(false);
  },

  /** The composer now answers message `id`. */
  startReply(id) {
    const ref = this.view.replyRef(id);
    if (!ref || !this.bar || !this.bar.el) return;
    this.replyTo = ref;
    const text = typeof ref.excerpt === 'string' ? ref.excerpt : 'Encrypted message';
    this.bar.text.replaceChildren('Replying to ', h('strong', {}, ref.author), ': ', h('span', { class: 'reply-bar-excerpt' }, text));
    this.bar.el.hidden = false;
    this.app.ui.input.focus();
  },

  /** Drops the reply (Escape, the cancel button, or it was sent). */
  cancelReply(focus = true) {
    this.replyTo = null;
    if (!this.bar || !this.bar.el) return;
    this.bar.el.hidden = true;
    this.bar.text.replaceChildren();
    if (focus) this.app.ui.input.focus();
  },

  /** Sets or clears my reaction; resolves to an error text to show, or null. */
  async react(id, emoji, on) {
    try {
      const reactions = await react(id, emoji, on);
      if (!this.closed && reactions) this.model.reactions({ id, reactions });
      return null;
    } catch (e) {
      const text = e.message || 'The reaction could not be saved.';
      if (e.status === 404) this.model.remove(id);
      else if (!document.querySelector('.reaction-picker')) this.app.alert(text);
      return text;
    }
  },

  /** Soon, if the newest message is on screen and the page is visible: tell the server I read it. */
  readSoon() {
    if (this.closed || this.readTimer) return;
    this.readTimer = this.later(() => {
      this.readTimer = null;
      this.markRead();
    }, READ_DELAY);
  },

  async markRead() {
    if (this.closed || document.hidden || !this.model.historyLoaded || !this.view.atBottom()) return;
    // Only someone else's message makes something unread (not mine, not a system line).
    const newest = this.model.newestId;
    const first = this.model.firstUnread({ unknownIsNothing: false });
    if (!newest || !first || !this.model.helloSeen) return;
    if (this.readSending) {
      this.readAgain = true;
      return;
    }
    this.readSending = true;
    try {
      const r = await api('PUT', `/api/groups/${this.t.id}/read`, { last_read_id: newest });
      if (!this.closed && r) this.onRead(r);
    } catch {
      /* tried again with the next message or scroll */
    } finally {
      this.readSending = false;
    }
    if (this.readAgain) {
      this.readAgain = false;
      this.readSoon();
    }
  },

  /**
   * Shows message `id`: loads older pages until the log has it (at most
   * JUMP_PAGES), scrolls to it and highlights it. Resolves to true when it
   * is shown, false when it was deleted or could not be found.
   */
  async jumpTo(messageId) {
    const id = Number(messageId);
    if (!(await this.loaded) || this.closed) return false;
    for (let pages = 0; !this.view.has(id) && pages < JUMP_PAGES;) {
      if (this.closed) return false;
      if (this.model.loadingOlder) {
        await new Promise((r) => setTimeout(r, 50));
        continue;
      }
      if (this.model.oldestId !== null && id >= this.model.oldestId) break;
      if (!this.model.hasMore || this.model.olderFailed) break;
      pages += 1;
      if (!(await this.loadOlder())) break;
    }
    if (this.closed) return false;
    if (this.view.flash(id)) return true;
    const gone = this.model.gone.has(id) || (this.model.oldestId !== null && id >= this.model.oldestId) || !this.model.hasMore;
    this.app.alert(gone ? 'That message was deleted.' : 'That message is too far back to show here.', 'warn');
    return false;
  },

  /**
   * The loaded messages (decrypted, in E2E groups) whose text `terms(text)`
   * accepts, newest first: [{id, author, created_at, text}].
   */
  searchLoaded(terms) {
    const out = [];
    for (const { msg } of this.model.byId.values()) {
      if (msg.system) continue;
      const text = this.view.plain.has(msg.id) ? this.view.plain.get(msg.id) : (typeof msg.content === 'string' ? msg.content : null);
      if (typeof text !== 'string') continue;
      let hit = false;
      try {
        hit = !!terms(text);
      } catch {
        hit = false;
      }
      if (hit) out.push({ id: msg.id, author: msg.author, created_at: msg.created_at, text });
    }
    return out.sort((a, b) => b.id - a.id);
  },

  /** Tells the page about a new message (window event `securechat:message`). */
  async announce(m) {
    if (m.system) return;
    let text = null;
    try {
      const r = await this.codec.decode(m);
      text = r && !r.failed ? r.text : null;
    } catch {
      text = null;
    }
    if (this.closed) return;
    const me = this.model.me.toLowerCase();
    const detail = {
      groupId: this.t.id,
      messageId: m.id,
      author: m.author,
      text,
      mentionsMe: (m.mentions || []).some((n) => String(n).toLowerCase() === me),
      mine: m.author === this.model.me,
    };
    window.dispatchEvent(new CustomEvent('securechat:message', { detail }));
  },
});
