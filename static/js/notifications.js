// System notifications (the Notification API) for what needs the user while
// the tab is hidden: a mention of them, and a message in a direct
// conversation from someone else. Opt-in per browser: the header's
// "Notifications" toggle asks for the permission and keeps the choice in
// localStorage. A notification says who and where, never what (message
// text may be end-to-end encrypted, and lock screens show notifications);
// clicking it opens the conversation at the message. Each message notifies
// once, however it was heard of (`mention` / `dm` on /ws, or the open
// conversation's `securechat:message` event).

const KEY = 'notifications';

/** How long a `dm` notice waits for a `mention` of the same message (which names the message). */
const DM_WAIT_MS = 300;

export function supported() {
  return typeof window.Notification === 'function';
}

export class Notifier {
  /**
   * @param app     the shell: `me`, `nameOf(groupId)`, `openAt(groupId, messageId)`
   * @param button  the toggle (aria-pressed)
   */
  constructor(app, button) {
    this.app = app;
    this.button = button;
    /** Message ids (and `g<group>` for DM notices without one) already notified. */
    this.seen = new Set();
    /** group id → timer of a DM notice waiting for its mention. */
    this.pendingDm = new Map();
    button.hidden = false;
    button.addEventListener('click', () => this.toggle());
    window.addEventListener('securechat:message', (e) => this.message(e.detail || {}));
    this.render();
  }

  get wanted() {
    try {
      return localStorage.getItem(KEY) === 'on';
    } catch {
      return false;
    }
  }

  set wanted(on) {
    try {
      localStorage.setItem(KEY, on ? 'on' : 'off');
    } catch {
      /* storage blocked: the choice lasts for this page only */
    }
    this.wantedHere = on;
  }

  /** On: the user opted in here and the browser allows it. */
  get enabled() {
    return supported() && Notification.permission === 'granted' && (this.wantedHere ?? this.wanted);
  }

  render() {
    const on = this.enabled;
    this.button.setAttribute('aria-pressed', String(on));
    this.button.querySelector('.notify-label').textContent = `Notifications: ${on ? 'on' : 'off'}`;
    let why = on ? 'Turn off system notifications for mentions and direct messages'
      : 'Get a system notification for mentions and direct messages while this tab is hidden';
    if (!supported()) why = 'This browser cannot show notifications';
    else if (Notification.permission === 'denied') why = 'Notifications are blocked for this site in the browser settings';
    this.button.title = why;
    this.button.disabled = !supported();
  }

  async toggle() {
    if (this.enabled) {
      this.wanted = false;
      this.render();
      return;
    }
    let permission = Notification.permission;
    if (permission === 'default') {
      try {
        permission = await Notification.requestPermission();
      } catch {
        permission = 'denied';
      }
    }
    if (permission !== 'granted') {
      this.wanted = false;
      this.app.alert('Notifications are blocked for this site: allow them in the browser\'s site settings.', 'warn');
    } else this.wanted = true;
    this.render();
  }

  /** `/ws` `mention` {group_id, message_id, from}. */
  mention(f) {
    const groupId = Number(f.group_id);
    clearTimeout(this.pendingDm.get(groupId));
    this.pendingDm.delete(groupId);
    this.show({
      groupId, messageId: Number(f.message_id) || null, from: f.from, mention: true,
    });
  }

  /** `/ws` `dm` {group_id, from}: a message in a direct conversation that is not open here. */
  dm(groupId, from) {
    if (!this.enabled || !document.hidden) return;
    clearTimeout(this.pendingDm.get(groupId));
    this.pendingDm.set(groupId, setTimeout(() => {
      this.pendingDm.delete(groupId);
      this.show({ groupId, messageId: null, from, mention: false });
    }, DM_WAIT_MS));
  }

  /** `securechat:message` {groupId, messageId, author, mentionsMe, mine}: a live message of the open conversation. */
  message(d) {
    if (d.mine || d.author === this.app.me.username) return;
    const groupId = Number(d.groupId);
    const isDm = this.app.isDm(groupId);
    if (!d.mentionsMe && !isDm) return;
    this.show({
      groupId, messageId: Number(d.messageId) || null, from: d.author, mention: !!d.mentionsMe,
    });
  }

  show({ groupId, messageId, from, mention }) {
    if (!this.enabled || !document.hidden || !groupId || from === this.app.me.username) return;
    const key = messageId ? `m${messageId}` : null;
    if (key && this.seen.has(key)) return;
    if (key) this.seen.add(key);
    const where = this.app.nameOf(groupId);
    const title = mention ? `${from} mentioned you${where ? ` in ${where}` : ''}` : `${from}${where && where !== from ? ` in ${where}` : ''}`;
    let n;
    try {
      n = new Notification(title, {
        body: 'New message',
        tag: `securechat-${groupId}${key ? `-${key}` : ''}`,
        icon: '/static/icons/icon-192.png',
      });
    } catch {
      return; // e.g. Android Chrome, which only shows notifications from a service worker
    }
    n.onclick = () => {
      window.focus();
      n.close();
      this.app.openAt(groupId, messageId);
    };
  }
}
