// The chat page: sidebar (groups, direct messages, who is online), routing
// by `#group-ID`, the notifications socket (with what it says about groups:
// added, removed, renamed, deleted), the theme and the connection status.
// The open conversation lives in conversation.js, which wires
// conversation-model.js to conversation-view.js, and a group's members
// panel to members.js.

import { h, icon, avatar, avatarClass, initials, lockMark, privateMark, renderList, autosize } from './dom.js';
import { api, wsUrl } from './api.js';
import { LiveSocket, SESSION_ENDED } from './socket.js';
import { Conversation } from './conversation.js';
import { KeyTrust } from './trust.js';
import { hasWebCrypto, registerDevice, groupFingerprint, onReplaced, REPLACED_TEXT } from './keys.js';
import './e2e-codec.js';
import { UnreadCounts } from './unread.js';
import { Notifier } from './notifications.js';
import { SearchPanel } from './search.js';
import { PeoplePicker } from './people.js';
import { applyPresenceDelta } from './presence.js';

const $ = (id) => document.getElementById(id);

const ui = {
  log: $('messages'),
  pill: $('new-pill'),
  typing: $('typing'),
  members: $('group-online'),
  membersCount: $('members-count'),
  membersPanel: $('members'),
  membersToggle: $('members-toggle'),
  roster: $('roster'),
  composer: $('composer'),
  input: $('composer-input'),
  sendBtn: $('send-btn'),
  attach: $('attach-btn'),
  note: $('composer-note'),
  title: $('conv-title'),
  sub: $('conv-sub'),
  leave: $('leave-group'),
  alerts: $('alerts'),
  empty: $('empty-state'),
  emptyTitle: $('empty-title'),
  emptyText: $('empty-text'),
  emptyAction: $('empty-action'),
  status: $('conn-status'),
  groups: $('groups'),
  dms: $('dms'),
  dmsEmpty: $('dms-empty'),
  online: $('online'),
  onlineCount: $('online-count'),
  sidebarToggle: $('sidebar-toggle'),
  scrim: $('scrim'),
};

const meEl = $('me');

const app = {
  ui,
  me: { id: Number(meEl.dataset.userId), username: meEl.querySelector('.me-name').textContent.trim() },
  /**
   * id → {id, name, e2e, private, role, member, member_count, created_at, …}
   * (unread counts: app.unread).
   * A private group we stopped being a member of stays (hidden) until the
   * next reload of the list, so later notices about it still find its name.
   */
  groups: new Map(),
  /** group_id → {group_id, username, usernames, unread} (counts: app.unread) */
  dms: new Map(),
  onlineUsers: [],
  current: null,
  currentId: null,
  sockets: {},
  onlineInGroup: 0,
};

// ----------------------------------------------------------------- theme

$('theme-toggle').addEventListener('click', () => {
  const root = document.documentElement;
  const next = root.getAttribute('data-theme') === 'dark' ? 'light' : 'dark';
  root.setAttribute('data-theme', next);
  try {
    localStorage.setItem('theme', next);
  } catch {
    /* storage blocked: the theme lasts for this page only */
  }
});

/** Trust on first use of members' device keys; warnings go above the conversation. */
app.trust = new KeyTrust(app.me, $('key-alerts'));
app.trust.onChange = () => {
  const c = app.current;
  if (!c) return;
  c.view.refreshPresence();
  if (c.codec && c.codec.forgetUnverified) {
    c.codec.forgetUnverified();
    c.view.recheckUnverified();
  }
};

const meAvatar = $('me-avatar');
meAvatar.textContent = initials(app.me.username);
meAvatar.classList.add(avatarClass(app.me.username));

// ---------------------------------------------------------- side drawers

const narrow = window.matchMedia('(max-width: 760px)');
const medium = window.matchMedia('(max-width: 1100px)');

function setSidebar(open) {
  // On a phone the two drawers would cover each other: one at a time.
  if (open && narrow.matches && document.body.classList.contains('members-open')) setMembers(false);
  document.body.classList.toggle('sidebar-open', open);
  ui.sidebarToggle.setAttribute('aria-expanded', String(open));
  ui.sidebarToggle.setAttribute('aria-label', open ? 'Hide sidebar' : 'Show sidebar');
  updateScrim();
  if (open) {
    const first = $('sidebar').querySelector('a, button, input');
    if (first) first.focus();
  }
}

function setMembers(open) {
  if (open && narrow.matches && document.body.classList.contains('sidebar-open')) setSidebar(false);
  document.body.classList.toggle('members-open', open);
  ui.membersToggle.setAttribute('aria-expanded', String(open));
  updateScrim();
}

function updateScrim() {
  const body = document.body.classList;
  ui.scrim.hidden = !((body.contains('sidebar-open') && narrow.matches)
    || (body.contains('members-open') && medium.matches));
}

ui.sidebarToggle.addEventListener('click', () => setSidebar(!document.body.classList.contains('sidebar-open')));
ui.membersToggle.addEventListener('click', () => setMembers(!document.body.classList.contains('members-open')));
ui.scrim.addEventListener('click', () => {
  setSidebar(false);
  setMembers(false);
});
document.addEventListener('keydown', (e) => {
  if (e.key !== 'Escape') return;
  if (document.body.classList.contains('sidebar-open') && narrow.matches) {
    setSidebar(false);
    ui.sidebarToggle.focus();
  } else if (document.body.classList.contains('members-open') && medium.matches) {
    setMembers(false);
    ui.membersToggle.focus();
  }
});
narrow.addEventListener('change', updateScrim);
medium.addEventListener('change', updateScrim);

// ---------------------------------------------------------------- alerts

/** Shows a message to the user in a `role="alert"` toast. */
app.alert = (text, kind = 'error', { sticky = false } = {}) => {
  if (!text) return;
  for (const old of ui.alerts.children) {
    if (old.dataset.text === text) old.remove();
  }
  const close = h('button', { type: 'button', class: 'toast-close', 'aria-label': 'Dismiss' }, icon('close', { size: 14 }));
  const toast = h('div', { class: `toast ${kind}`, role: 'alert', dataset: { text } },
    icon('alert', { size: 16 }), h('span', { class: 'toast-text' }, text), close);
  const remove = () => toast.remove();
  close.addEventListener('click', remove);
  ui.alerts.append(toast);
  while (ui.alerts.children.length > 3) ui.alerts.firstElementChild.remove();
  if (!sticky) setTimeout(remove, 7000);
};

// ----------------------------------------------------- connection status

let countdown = null;

/** Records a socket's state and shows "Reconnecting…" while any is down. */
app.socketState = (which, state, info) => {
  app.sockets[which] = { state, info, at: Date.now() };
  renderStatus();
};

function renderStatus() {
  const states = Object.values(app.sockets);
  const waiting = states.filter((s) => s.state === 'waiting');
  const retrying = states.some((s) => s.state === 'connecting' && s.info && s.info.attempt > 0);
  clearInterval(countdown);
  countdown = null;
  if (!waiting.length && !retrying) {
    ui.status.replaceChildren();
    ui.status.classList.remove('shown');
    return;
  }
  const retryAt = Math.min(...waiting.map((s) => s.info.retryAt || 0).filter(Boolean));
  const secs = h('span', { class: 'status-secs', 'aria-hidden': 'true' });
  const tick = () => {
    const left = Math.ceil((retryAt - Date.now()) / 1000);
    secs.textContent = Number.isFinite(left) && left > 0 ? ` · retrying in ${left} s` : ' · connecting';
  };
  tick();
  if (waiting.length) countdown = setInterval(tick, 1000);
  const now = h('button', { type: 'button', class: 'link-btn' }, 'Retry now');
  now.addEventListener('click', retryAll);
  ui.status.replaceChildren(h('span', { class: 'status-dot', 'aria-hidden': 'true' }),
    h('strong', {}, 'Reconnecting…'), secs, ' ', now);
  ui.status.classList.add('shown');
}

function retryAll() {
  notify.retryNow();
  if (app.current && app.current.socket) app.current.socket.retryNow();
}

window.addEventListener('online', retryAll);

// ------------------------------------------------------------ the lists

function onlineNames() {
  return new Set(app.onlineUsers.map((u) => u.username.toLowerCase()));
}

/** Groups the list shows: all we belong to, and the public ones. */
function listed(g) {
  return g.member || !g.private;
}

function renderGroups() {
  const list = [...app.groups.values()].filter(listed).sort((a, b) => (Number(b.member) - Number(a.member))
    || a.name.localeCompare(b.name, undefined, { sensitivity: 'base' }));
  renderList(ui.groups, list, (g) => {
    const active = g.id === app.currentId;
    const label = [
      h('span', { class: 'nav-icon', 'aria-hidden': 'true' }, '#'),
      h('span', { class: 'name' }, g.name),
      g.private ? privateMark() : null,
      g.e2e ? lockMark() : null,
      app.unread.badges(g.id),
    ];
    if (g.member) {
      return h('li', { class: `nav-item${active ? ' active' : ''}${app.unread.has(g.id) ? ' unread' : ''}` },
        h('a', {
          class: 'nav-link',
          href: `#group-${g.id}`,
          'aria-current': active ? 'page' : null,
          dataset: { fk: `g${g.id}` },
        }, label));
    }
    return h('li', { class: 'nav-item not-member' },
      h('span', { class: 'nav-link' }, label),
      h('button', {
        type: 'button',
        class: 'join-btn',
        title: `Join ${g.name}`,
        dataset: { fk: `j${g.id}` },
        onclick: () => joinGroup(g.id),
      }, 'Join'));
  });
  if (!list.length) ui.groups.replaceChildren(h('li', { class: 'side-empty' }, 'No groups yet. Create the first one below.'));
}

function renderDms() {
  const online = onlineNames();
  const list = [...app.dms.values()].sort((a, b) => a.username.localeCompare(b.username, undefined, { sensitivity: 'base' }));
  renderList(ui.dms, list, (d) => {
    const active = d.group_id === app.currentId;
    const others = dmPeople(d);
    // A group DM is "online" when anyone in it is.
    const isOn = others.some((n) => online.has(n.toLowerCase()));
    return h('li', { class: `nav-item${active ? ' active' : ''}${app.unread.has(d.group_id) ? ' unread' : ''}` },
      h('a', {
        class: 'nav-link',
        href: `#group-${d.group_id}`,
        'aria-current': active ? 'page' : null,
        dataset: { fk: `d${d.group_id}` },
      },
      h('span', { class: 'avatar-wrap' }, avatar(others.length > 1 ? String(others.length) : d.username, 'avatar-xs'),
        h('span', { class: `presence-dot${isOn ? ' on' : ''}`, 'aria-hidden': 'true' })),
      h('span', { class: 'name' }, dmName(d)),
      d.e2e ? lockMark() : null,
      isOn ? h('span', { class: 'sr-only' }, ' (online)') : null,
      app.unread.badges(d.group_id)));
  });
  ui.dmsEmpty.hidden = app.dms.size > 0;
}

/** Everyone else in a DM (a group DM has several). */
function dmPeople(d) {
  return Array.isArray(d.usernames) && d.usernames.length ? d.usernames : [d.username];
}

/** What a DM is called: its members, "bob, carol". */
function dmName(d) {
  return dmPeople(d).join(', ');
}

/** The key fingerprints of one user in an E2E group's `In this group` list. */
function fingerprints(username, keys, self) {
  const fps = keys.get(username) || [];
  if (!fps.length) {
    return h('span', { class: 'fp-none' }, 'No encryption key yet: cannot read messages here');
  }
  return h('ul', { class: 'fps', 'aria-label': `${username}'s key fingerprints` },
    fps.map((fp) => h('li', { class: 'fp-item' },
      h('span', { class: 'sr-only' }, 'Key fingerprint '),
      h('code', { class: 'fp', title: 'SHA-256 fingerprint of this device key. Compare it with the one shown on their device.' }, groupFingerprint(fp)),
      fp === self ? h('span', { class: 'fp-this' }, 'this device') : null)));
}

/**
 * Fills a people list (`Online` or `In this group`): name, IPs, DM button.
 * `e2e` ({keys: Map username → [fingerprint], self}) adds each user's key
 * fingerprints; users marked `offline` are members who are not connected.
 */
app.renderPeople = (list, users, e2e = null) => {
  const sorted = users.slice().sort((a, b) => {
    const am = a.username === app.me.username ? 0 : 1;
    const bm = b.username === app.me.username ? 0 : 1;
    return am - bm || a.username.localeCompare(b.username, undefined, { sensitivity: 'base' });
  });
  renderList(list, sorted, (u) => {
    const isMe = u.username === app.me.username;
    const ips = Array.isArray(u.ips) ? u.ips : [];
    const warned = e2e && app.trust.pending(u.username);
    return h('li', { class: `person${e2e ? ' with-keys' : ''}${u.offline ? ' offline' : ''}` },
      h('span', { class: 'avatar-wrap' }, avatar(u.username, 'avatar-sm'), h('span', { class: `presence-dot${u.offline ? '' : ' on'}`, 'aria-hidden': 'true' })),
      h('span', { class: 'person-main' },
        h('span', { class: 'person-name' }, h('span', { class: 'uname' }, u.username), isMe ? h('span', { class: 'you' }, ' (you)') : null),
        u.offline ? h('span', { class: 'ips away' }, 'offline') : h('span', { class: 'ips' }, ips.join(', ')),
        warned ? h('span', { class: 'fp-warn' }, 'Keys changed') : null,
        e2e ? fingerprints(u.username, e2e.keys, e2e.self) : null),
      isMe ? null : h('button', {
        type: 'button',
        class: 'icon-btn dm-btn',
        'aria-label': `Start DM with ${u.username}`,
        title: `Start DM with ${u.username}`,
        dataset: { fk: `dm:${u.username}` },
        onclick: () => startDm(u.username),
      }, icon('chat', { size: 16 })));
  });
  if (!sorted.length) list.replaceChildren(h('li', { class: 'side-empty' }, 'Nobody is here right now.'));
};

function renderOnline(users) {
  app.onlineUsers = users;
  app.renderPeople(ui.online, users);
  ui.onlineCount.textContent = String(users.length);
  renderDms();
  if (app.people) app.people.refresh();
}

function updateTitle() {
  const t = targetFor(app.currentId);
  const name = t ? (t.kind === 'dm' ? t.name : `#${t.name}`) : '';
  document.title = app.unread.title(name);
}

/** Sidebar badges and the title follow the counts (from the server, kept live by /ws). */
app.unread = new UnreadCounts(() => {
  renderGroups();
  renderDms();
  updateTitle();
});
// The open conversation moves the read position itself (conversation.js:
// when its newest message is on screen and the page is visible); the
// server's `read` frames then clear the badges here and on other devices.

/** A new message arrived in the open conversation. */
app.noteActivity = () => {
  app.unread.noteLive();
};

// ------------------------------------------------------------- loading

function mergeGroup(g) {
  const old = app.groups.get(g.id);
  app.groups.set(g.id, { ...g, member: !!(g.member || (old && old.member)) });
  app.unread.seed(g.id, g, { quiet: true });
}

async function refreshLists() {
  // Counts a live frame changes while these requests are out are newer than their answers.
  const since = app.unread.stamp();
  const [groups, dms] = await Promise.all([
    api('GET', '/api/groups').catch(() => null),
    api('GET', '/api/dms').catch(() => null),
  ]);
  const seen = new Set();
  if (groups) {
    for (const g of groups.groups) {
      if (g.kind === 'dm') continue;
      seen.add(g.id);
      app.groups.set(g.id, { ...g });
      app.unread.seed(g.id, g, { quiet: true, since });
    }
    for (const id of [...app.groups.keys()]) if (!seen.has(id)) app.groups.delete(id);
  }
  if (dms) {
    for (const d of dms.dms) {
      app.dms.set(d.group_id, { ...d });
      app.unread.seed(d.group_id, d, { quiet: true, since });
      seen.add(d.group_id);
    }
  }
  if (groups && dms) app.unread.keepOnly(seen);
  renderGroups();
  renderDms();
  updateTitle();
  return !!(groups && dms);
}

// ------------------------------------------------- notifications socket

let notifyOpened = false;

const notify = new LiveSocket({
  url: () => wsUrl('/ws'),
  onOpen: () => {
    // After a reconnect, catch up on what changed while we were away (the
    // socket's first frame is the whole online list: asking for it too
    // could land after newer deltas and undo them).
    if (notifyOpened) refreshLists();
    notifyOpened = true;
  },
  onFrame: (f) => {
    if (f.type === 'online') renderOnline(f.users || []);
    else if (f.type === 'online_delta') renderOnline(applyPresenceDelta(app.onlineUsers || [], f));
    else if (f.type === 'new_group' && f.group) {
      if (f.group.kind === 'dm') return;
      mergeGroup(f.group);
      renderGroups();
    } else if (f.type === 'dm') onDmNotice(f);
    else if (f.type === 'activity') onGroupActivity(f);
    else if (f.type === 'added' && f.group) onAdded(f.group);
    else if (f.type === 'removed') onRemovedNotice(Number(f.group_id));
    else if (f.type === 'group_updated' && f.group) app.updateGroup(f.group);
    else if (f.type === 'group_deleted') app.groupDeleted(Number(f.group_id));
    else if (f.type === 'mention') onMention(f);
    else if (f.type === 'read') app.unread.set(Number(f.group_id), f.unread, f.mentions);
    else if (f.type === 'keys_changed') onKeysChanged(f);
  },
  onState: (state, info) => app.socketState('notify', state, info),
  onEnd: (ev) => {
    if (ev.code === SESSION_ENDED) app.sessionEnded();
  },
  onFailures: (n) => {
    // Possibly logged out: /api/me answers 401 and api() goes to the login page.
    if (n % 5 === 0) api('GET', '/api/me').catch(() => {});
  },
});

/**
 * `/ws` (and an E2E room's socket): someone's device keys changed (a device
 * added or removed). The open E2E conversation fetches the keys again,
 * which raises the key-change warning. Our own keys changed: this device
 * registers again, so that if it is the one removed it learns so at once
 * (409 device_removed: it makes a new key and says so, keys.js) instead
 * of failing every send until the page is loaded again.
 */
app.keysChanged = (f) => onKeysChanged(f);
function onKeysChanged(f) {
  if (f && typeof f.username === 'string' && f.username.toLowerCase() === app.me.username.toLowerCase() && hasWebCrypto()) {
    registerDevice(app.me, { again: true }).catch(() => {});
  }
  const c = app.current;
  if (c && c.codec && c.codec.e2e && c.codec.refreshSoon) c.codec.refreshSoon(50);
}

onReplaced(() => {
  app.alert(REPLACED_TEXT, 'warn', { sticky: true });
  const c = app.current;
  if (c && c.codec && c.codec.e2e && c.codec.refreshSoon) c.codec.refreshSoon(50);
});

/** A message in a group we belong to but do not have open. */
function onGroupActivity(f) {
  const id = Number(f.group_id);
  if (!app.groups.has(id)) return;
  app.unread.bump(id);
}

/** `/ws`: a message mentions us where we have no socket open (its `activity`/`dm` counts it as unread). */
function onMention(f) {
  const id = Number(f.group_id);
  app.unread.bump(id, 'mentions');
  notifier.mention(f);
}

function onDmNotice(f) {
  const id = Number(f.group_id);
  if (!id) return;
  const d = app.dms.get(id);
  if (!d) {
    // A conversation we did not know: someone just opened it with us (the
    // list was loaded at start and after every reconnect), so nothing is
    // unread yet; every later notice is a message. The list names a group
    // DM by all its members: ask for it.
    app.dms.set(id, { group_id: id, username: f.from, usernames: [f.from], e2e: !!f.e2e });
    renderDms();
    refreshLists();
    return;
  }
  app.unread.bump(id);
  if (f.from !== app.me.username) notifier.dm(id, f.from);
}

// -------------------------------------------------------- group changes

/**
 * A group object from the server: the list follows, and the header when it
 * is open. `own`: the object carries this user's own role and membership
 * (`/ws` notices, API answers, `hello`); the room's `group_updated` is one
 * for everyone and does not.
 */
app.updateGroup = (g, own = true) => {
  if (!g || g.kind === 'dm') return;
  const old = app.groups.get(g.id);
  if (!own && !old) return;
  const next = own ? { ...g } : { ...old, name: g.name, e2e: g.e2e, private: g.private, member_count: g.member_count };
  app.groups.set(g.id, next);
  if (own) app.unread.seed(g.id, g, { quiet: true });
  renderGroups();
  const c = app.current;
  if (c && c.t.id === g.id && c.t.name !== next.name) {
    c.t.name = next.name;
    setHeader(c.t);
    ui.input.placeholder = `Message #${next.name}`;
    c.retitle();
    updateTitle();
  }
};

/** The open conversation learnt the user's role there. */
app.noteRole = (id, role) => {
  const g = app.groups.get(id);
  if (g) g.role = role;
};

/** `/ws`: someone added us to a group. */
function onAdded(g) {
  if (g.kind === 'dm') return;
  const old = app.groups.get(g.id);
  app.updateGroup({ ...g, member: true });
  if (old && old.member) return;
  app.alert(`You were added to #${g.name}.`, 'info');
  // Looking at it from outside (a deep link, or just removed): open it.
  if (app.currentId === g.id && !app.current) openGroup(g.id);
}

/**
 * `/ws`: a moderator removed us. The group's socket closes too (4403),
 * before or after this notice: whichever comes second finds the
 * conversation ended and only says why.
 */
function onRemovedNotice(id) {
  const g = app.groups.get(id);
  if (!g) return;
  g.member = false;
  g.role = null;
  renderGroups();
  const text = `You were removed from #${g.name}`;
  if (app.currentId !== id) {
    app.alert(`${text}.`, 'info');
    return;
  }
  closeCurrent();
  showEnded(g, text, g.private
    ? 'It is a private group: only its members can see it.'
    : 'It is a public group: you can join it again.');
}

/** The group is gone (`/ws`, or we deleted it): off the list, and the conversation ends. */
app.groupDeleted = (id) => {
  const g = app.groups.get(id);
  if (!g) return;
  app.groups.delete(id);
  renderGroups();
  if (app.currentId === id) {
    closeCurrent();
    showEmpty(`#${g.name} was deleted`, 'The group and its messages are gone.');
  } else if (g.member) app.alert(`#${g.name} was deleted.`, 'info');
};

// --------------------------------------------------------------- actions

async function joinGroup(id) {
  try {
    const g = await api('POST', `/api/groups/${id}/join`);
    app.groups.set(g.id, { ...g, member: true });
    renderGroups();
    navigate(g.id, true);
  } catch (e) {
    app.alert(e.message);
  }
}

/**
 * Opens (or reuses: the server keeps one per set of people) the direct
 * conversation with one or more others. Resolves to whether it worked.
 */
async function startDm(names, { e2e = false } = {}) {
  const usernames = [].concat(names);
  try {
    const body = usernames.length === 1 ? { username: usernames[0] } : { usernames };
    if (e2e) body.e2e = true;
    const r = await api('POST', '/api/dm', body);
    if (!app.dms.has(r.group_id)) {
      const sorted = usernames.slice().sort((a, b) => a.localeCompare(b));
      app.dms.set(r.group_id, { group_id: r.group_id, username: sorted.join(', '), usernames: sorted, e2e });
      refreshLists();
    }
    renderDms();
    navigate(r.group_id);
    return true;
  } catch (e) {
    app.alert(e.message);
    return false;
  }
}

const createForm = $('create-group');
const createName = $('new-group-name');
const createE2e = $('new-group-e2e');
const createPrivate = $('new-group-private');
const createError = $('create-group-error');

function createProblem(text) {
  createError.textContent = text;
  createError.hidden = !text;
  if (text) createName.setAttribute('aria-invalid', 'true');
  else createName.removeAttribute('aria-invalid');
}

createName.addEventListener('input', () => createProblem(''));
// Encrypted groups are private by default (the user may still untick it).
createE2e.addEventListener('change', () => {
  if (createE2e.checked) createPrivate.checked = true;
});

createForm.addEventListener('submit', async (e) => {
  e.preventDefault();
  const name = createName.value.trim();
  if (!name) {
    createProblem('Enter a name for the group.');
    createName.focus();
    return;
  }
  if ([...name].length > 64) {
    createProblem('Group names are 64 characters at most.');
    return;
  }
  const taken = [...app.groups.values()].some((g) => listed(g) && g.name.toLowerCase() === name.toLowerCase());
  if (taken) {
    createProblem('A group with that name already exists.');
    return;
  }
  const btn = $('create-group-btn');
  btn.disabled = true;
  try {
    const g = await api('POST', '/api/groups', { name, e2e: createE2e.checked, private: createPrivate.checked });
    app.groups.set(g.id, { ...g, member: true });
    createName.value = '';
    createE2e.checked = false;
    createPrivate.checked = false;
    createProblem('');
    renderGroups();
    navigate(g.id, true);
  } catch (err) {
    createProblem(err.code === 'name_taken' ? 'A group with that name already exists.' : err.message);
  } finally {
    btn.disabled = false;
  }
});

ui.leave.addEventListener('click', async () => {
  const id = app.currentId;
  const g = app.groups.get(id);
  if (!g) return;
  ui.leave.disabled = true;
  try {
    await api('POST', `/api/groups/${id}/leave`);
    g.member = false;
    g.role = null;
    closeCurrent();
    renderGroups();
    history.replaceState(null, '', window.location.pathname);
    app.currentId = null;
    showEmpty(`You left #${g.name}`, g.private
      ? 'It is a private group: to come back, you need an invite link or to be added by its owner or an admin.'
      : 'You can join it again at any time from the Groups list.');
    app.alert(`You left #${g.name}.`, 'info');
  } catch (e) {
    app.alert(e.message);
  } finally {
    ui.leave.disabled = false;
  }
});

/** The server ended this session (a socket closed with 4401): log in again. */
app.sessionEnded = () => {
  window.location.assign('/login?ended=1');
};

/** The server says we are no longer a member (socket closed with 4403, or 403). */
app.onRemoved = (id) => {
  if (app.currentId !== id) return;
  const g = app.groups.get(id);
  closeCurrent();
  if (g) {
    g.member = false;
    g.role = null;
    renderGroups();
    showEnded(g, `#${g.name}`, 'You are no longer a member of this group.');
  } else showEmpty('Conversation unavailable', 'You are not a member of this conversation.');
};

// --------------------------------------------------------------- routing

function targetFor(id) {
  if (id == null) return null;
  const g = app.groups.get(id);
  if (g) {
    return {
      id, name: g.name, e2e: !!g.e2e, private: !!g.private, role: g.role || null, kind: 'group', member: !!g.member,
    };
  }
  const d = app.dms.get(id);
  if (d) {
    return {
      id, name: dmName(d), e2e: !!d.e2e, kind: 'dm', member: true, dmWith: d.username, usernames: dmPeople(d),
    };
  }
  return null;
}

function navigate(id, focus = false) {
  app.focusNext = focus;
  const hash = `#group-${id}`;
  if (window.location.hash === hash) route();
  else window.location.hash = hash;
}

function route() {
  const m = /^#group-(\d+)$/.exec(window.location.hash);
  if (m) openGroup(Number(m[1]));
  else if (!app.currentId) openDefault();
}

function openDefault() {
  let last = null;
  try {
    last = Number(localStorage.getItem('lastGroup')) || null;
  } catch {
    last = null;
  }
  const t = targetFor(last);
  let id = t && t.member ? last : null;
  if (!id) {
    const first = [...app.groups.values()].filter((g) => g.member)
      .sort((a, b) => a.name.localeCompare(b.name, undefined, { sensitivity: 'base' }))[0];
    id = first ? first.id : null;
  }
  if (id) {
    history.replaceState(null, '', `#group-${id}`);
    openGroup(id);
  } else {
    showEmpty(`Welcome, ${app.me.username}`, 'Pick a group from the sidebar, or create one to start chatting.');
  }
}

function closeCurrent() {
  if (app.current) app.current.close();
  app.current = null;
  app.unread.open(null);
  ui.pill.hidden = true;
  ui.typing.replaceChildren();
  app.socketState('chat', 'stopped', {});
}

async function openGroup(id) {
  if (app.currentId === id && app.current) {
    closeDrawersOnPhone();
    return;
  }
  closeCurrent();
  app.currentId = id;
  let target = targetFor(id);
  if (!target || !target.member) {
    await refreshLists();
    if (app.currentId !== id) return;
    target = targetFor(id);
  }
  renderGroups();
  renderDms();
  closeDrawersOnPhone();
  if (!target) {
    showEmpty('Conversation not found', 'This group does not exist, or it is a private conversation you are not part of.');
    updateTitle();
    return;
  }
  if (!target.member) {
    showJoinPrompt(app.groups.get(id));
    updateTitle();
    return;
  }
  app.unread.open(id);
  try {
    localStorage.setItem('lastGroup', String(id));
  } catch {
    /* not remembered */
  }
  app.current = new Conversation(app, target);
  showConversation(target, app.current.codec);
  updateTitle();
  app.current.start();
  if (app.focusNext || !narrow.matches) {
    if (!ui.input.disabled) ui.input.focus();
  }
  app.focusNext = false;
}

function closeDrawersOnPhone() {
  if (narrow.matches) setSidebar(false);
}

function setHeader(target) {
  const parts = [];
  if (target.kind === 'dm') parts.push(avatar(target.name, 'avatar-sm'));
  else parts.push(h('span', { class: 'conv-hash', 'aria-hidden': 'true' }, '#'));
  parts.push(h('span', { class: 'conv-name' }, target.name));
  if (target.private && target.kind !== 'dm') parts.push(privateMark());
  if (target.e2e) parts.push(lockMark());
  ui.title.replaceChildren(...parts);
}

app.setOnlineCount = (n) => {
  app.onlineInGroup = n;
  const t = targetFor(app.currentId);
  if (!t) return;
  const bits = [];
  if (t.kind === 'dm') bits.push('Direct message');
  bits.push(`${n} online`);
  if (t.e2e) bits.push('End-to-end encrypted');
  ui.sub.textContent = bits.join(' · ');
};

function showConversation(target, codec) {
  setHeader(target);
  ui.sub.textContent = target.kind === 'dm' ? 'Direct message' : (target.e2e ? 'End-to-end encrypted' : '');
  document.body.classList.add('has-conversation');
  ui.empty.hidden = true;
  ui.log.hidden = false;
  ui.membersPanel.hidden = false;
  ui.membersToggle.hidden = false;
  ui.leave.hidden = target.kind !== 'group';
  ui.composer.hidden = false;
  ui.members.replaceChildren();
  ui.membersCount.textContent = '';
  ui.input.placeholder = target.kind === 'dm' ? `Message ${target.name}` : `Message #${target.name}`;
  app.updateComposer(codec);
  ui.input.value = drafts.get(target.id) || '';
  autosize(ui.input);
}

/**
 * Enables the composer when the conversation's codec (e2e.js) can send;
 * otherwise disables it and says why. Called again once the codec is ready.
 */
app.updateComposer = (codec) => {
  const wasDisabled = ui.input.disabled;
  ui.input.disabled = !codec.canSend;
  ui.sendBtn.disabled = !codec.canSend;
  ui.attach.disabled = !codec.canSend;
  if (!codec.canSend) {
    ui.note.replaceChildren(lockMark(), h('span', {}, codec.reason));
    ui.note.classList.toggle('warn', !!codec.e2e);
    ui.note.hidden = false;
    ui.input.setAttribute('aria-describedby', 'composer-note');
  } else {
    ui.note.hidden = true;
    ui.input.removeAttribute('aria-describedby');
    if (wasDisabled && !narrow.matches) ui.input.focus();
  }
};

function showEmpty(title, text, action = null) {
  document.body.classList.remove('has-conversation');
  setMembers(false);
  ui.title.replaceChildren(h('span', { class: 'conv-name' }, 'SecureChat'));
  ui.sub.textContent = '';
  ui.log.replaceChildren();
  ui.log.hidden = true;
  ui.membersPanel.hidden = true;
  ui.membersToggle.hidden = true;
  ui.leave.hidden = true;
  ui.composer.hidden = true;
  ui.empty.hidden = false;
  ui.emptyTitle.textContent = title;
  ui.emptyText.textContent = text;
  const btn = ui.emptyAction.cloneNode(false);
  ui.emptyAction.replaceWith(btn);
  ui.emptyAction = btn;
  if (action) {
    btn.textContent = action.label;
    btn.hidden = false;
    btn.addEventListener('click', action.run);
  } else btn.hidden = true;
  updateTitle();
}

function showJoinPrompt(g) {
  showEnded(g, `#${g.name}`, 'You are not a member of this group yet. Join it to read and send messages.');
}

/** A group we are outside of: why, and a Join button if it is public. */
function showEnded(g, title, text) {
  showEmpty(title, text, g.private ? null : { label: 'Join group', run: () => joinGroup(g.id) });
  setHeader({ kind: 'group', name: g.name, e2e: g.e2e, private: g.private });
}

window.addEventListener('hashchange', route);

// ------------------------------------------- opening at a message

/** What the user calls a conversation: "#general", or a DM's members. */
app.nameOf = (id) => {
  const t = targetFor(id);
  if (!t) return '';
  return t.kind === 'dm' ? t.name : `#${t.name}`;
};

app.isDm = (id) => app.dms.has(id);

/**
 * Opens a conversation and, when `messageId` is given and the conversation
 * can (`jumpTo`, conversation.js), scrolls to that message. Used by
 * notifications and search results.
 */
app.openAt = async (id, messageId = null) => {
  navigate(id);
  // The hash change routes a moment later; give up only if the user went
  // somewhere else after that, or it never happens.
  const deadline = Date.now() + 10000;
  let arrived = false;
  while (!(app.current && app.current.t.id === id)) {
    if (app.currentId === id) arrived = true;
    else if (arrived || Date.now() > deadline) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  const c = app.current;
  if (messageId && typeof c.jumpTo === 'function') {
    try {
      await c.jumpTo(messageId);
    } catch (e) {
      app.alert(e && e.message ? e.message : 'That message could not be shown.');
    }
  }
};

const notifier = new Notifier(app, $('notify-toggle'));
app.search = new SearchPanel(app);
app.people = new PeoplePicker(app, startDm);

// -------------------------------------------------------------- composer

const drafts = new Map();

async function submitComposer() {
  const c = app.current;
  if (!c) return;
  const text = ui.input.value;
  if (!text.trim() && !(c.uploads && c.uploads.hasFiles)) return;
  ui.input.value = '';
  drafts.delete(c.t.id);
  autosize(ui.input);
  const ok = await c.send(text);
  if (!ok && !ui.input.value) {
    ui.input.value = text;
    autosize(ui.input);
  }
}

ui.composer.addEventListener('submit', (e) => {
  e.preventDefault();
  submitComposer();
  ui.input.focus();
});

ui.input.addEventListener('keydown', (e) => {
  if (e.key === 'Enter' && !e.shiftKey && !e.isComposing && !e.altKey && !e.ctrlKey && !e.metaKey) {
    e.preventDefault();
    submitComposer();
  } else if (e.key === 'ArrowUp' && !ui.input.value && app.current) {
    if (app.current.editLast()) e.preventDefault();
  }
});

ui.input.addEventListener('input', () => {
  autosize(ui.input);
  if (app.current) {
    drafts.set(app.current.t.id, ui.input.value);
    app.current.onInput(ui.input.value);
  }
});

ui.log.addEventListener('scroll', () => {
  if (app.current) app.current.onScroll();
}, { passive: true });

ui.pill.addEventListener('click', () => {
  if (app.current) app.current.view.scrollToBottom();
  ui.input.focus();
});

// Keep the newest message in view when the log box changes size (phone
// keyboards, window resizes, the composer growing).
let wasAtBottom = true;
ui.log.addEventListener('scroll', () => {
  if (app.current) wasAtBottom = app.current.view.atBottom();
}, { passive: true });
new ResizeObserver(() => {
  if (app.current && wasAtBottom) app.current.view.scrollToBottom();
}).observe(ui.log);

// ----------------------------------------------------------------- start

async function init() {
  // Register this browser's encryption key early, so members can encrypt
  // for it before it opens an encrypted group (errors show there).
  if (hasWebCrypto()) registerDevice(app.me).catch(() => {});
  renderGroups();
  renderDms();
  const [ok, online] = await Promise.all([
    refreshLists(),
    api('GET', '/api/online').catch(() => null),
  ]);
  if (online) renderOnline(online.users || []);
  if (!ok) app.alert('The server could not be reached. Retrying…');
  notify.start();
  route();
  // The installable app's worker (static/sw.js: caches /static/ only, never messages).
  if ('serviceWorker' in navigator) navigator.serviceWorker.register('/sw.js', { scope: '/' }).catch(() => {});
}

init();
