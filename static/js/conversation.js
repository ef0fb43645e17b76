// One open conversation (a group or a DM), wired together: its socket and
// the history API on one side, the model (conversation-model.js: what the
// log holds, the outbox, paging) and the view (conversation-view.js: the
// DOM) on the other. Frames and pages go to the model, whose reports of
// what changed go to the view; what the user does in the view comes back
// here. A group (not a DM) also has its members panel (members.js), told
// when a system line says the membership changed. The page holds at most
// one Conversation at a time.

import { randomId } from './dom.js';
import { api, wsUrl } from './api.js';
import { LiveSocket, SESSION_ENDED } from './socket.js';
import { codecFor } from './e2e.js';
import { ConversationModel, MAX_LENGTH } from './conversation-model.js';
import { ConversationView } from './conversation-view.js';
import { MembersPanel } from './members.js';
import { can } from './roles.js';

const PAGE = 50;
/** Send a typing notice at most this often. */
const TYPING_EVERY = 2000;

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
    });
    this.view.moderator = this.isModerator(target.role);
    this.members = target.kind === 'group' ? new MembersPanel(app, target, (role) => this.setRole(role)) : null;
    this.lastTypingSent = 0;
    this.closed = false;
    this.socket = null;
    this.timers = new Set();
  }

  // ---------------------------------------------------------------- life

  async start() {
    this.view.start();
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
    // Resume after the newest message we have, so the server replays the gap.
    return wsUrl(this.model.historyLoaded ? `${path}?after=${this.model.newestId}` : path);
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
    switch (f.type) {
      case 'hello': return this.onHello(f);
      case 'message':
        if (this.model.receive(f)) this.flush();
        return undefined;
      case 'ack':
        if (this.model.ack(f)) this.flush();
        return undefined;
      case 'edited': return this.model.edited(f);
      case 'deleted': return this.model.remove(f.id, f.by || null);
      case 'presence':
        this.keysMayHaveChanged();
        return this.view.renderPresence(f.users || []);
      case 'system':
        if (typeof f.id === 'number') return this.model.systemLine(f);
        this.someoneCame(f.text || '');
        return this.view.addSystem(f);
      case 'group_updated':
        if (f.group) this.app.updateGroup(f.group, false);
        return undefined;
      case 'typing': return this.view.typingFrom(f.username);
      case 'error': return this.onError(f);
      default: return undefined;
    }
  }

  onHello(f) {
    const reconnect = this.model.hello(f);
    if (f.group && this.t.kind === 'group') {
      this.app.updateGroup(f.group);
      this.setRole(f.group.role || null);
      if (reconnect && this.members) this.members.refreshSoon();
    }
    this.view.renderPresence(f.online || []);
    if (reconnect) this.keysMayHaveChanged();
    if (!this.model.historyLoaded) this.loadLatest();
    this.flush();
    if (reconnect || this.model.hasUncertain()) {
      // Let the replay arrive first, then settle edits, deletions and
      // messages whose ack was lost with the old socket.
      this.later(() => this.reconcile(), 400);
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
      if (fresh) this.view.scrollToBottom();
      this.fill();
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
    this.view.addPending(this.model.queue(randomId(), body, clean));
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
    const body = await this.codec.encode(text);
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
    if (this.view.atBottom()) this.view.hidePill();
    if (this.view.nearTop() && this.model.hasMore && !this.model.olderFailed) this.loadOlder();
  }

  /** In an E2E group the member keys may have changed: fetch them again soon. */
  keysMayHaveChanged() {
    if (this.codec.refreshSoon) this.codec.refreshSoon();
  }
}
