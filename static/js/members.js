// The open group's members panel: who belongs to it and with which role,
// and what the user's own role lets them do there — add someone by name,
// remove a member, make someone an admin or a plain member again, hand the
// group on, rename it, delete it — with the invite links (invites.js) for
// owners and admins. It lives as long as the conversation (conversation.js
// makes it for groups, not DMs) and fetches the list again when a system
// line says the membership changed. The server decides (403 with its
// reason, shown as an alert); this only leaves out what would be refused.

import { h, avatar, confirmBar, renderList } from './dom.js';
import { api } from './api.js';
import { can, byRole } from './roles.js';
import { InvitesPanel } from './invites.js';

/** Fetch the list again this long after the last change that asked for it. */
const REFRESH_DELAY = 150;

export class MembersPanel {
  /**
   * @param app     the page (me, alert(), updateGroup(), groupDeleted(), ui.roster)
   * @param target  the conversation's {id, name, role, …} (kept up to date by the page)
   * @param onRole  told when the list shows that the user's own role changed
   */
  constructor(app, target, onRole) {
    this.app = app;
    this.t = target;
    this.onRole = onRole;
    this.role = target.role || null;
    this.members = [];
    this.loaded = false;
    this.closed = false;
    this.seq = 0;
    this.timer = null;
    this.root = app.ui.roster;
    this.invites = null;
    this.build();
  }

  get me() {
    return this.app.me.username;
  }

  /** The panel's fixed parts; the list and the tools are filled in by render(). */
  build() {
    this.count = h('span', { class: 'count' });
    this.list = h('ul', { class: 'people roster-list', 'aria-label': 'Members' });
    this.addInput = h('input', {
      id: 'add-member-name', name: 'username', autocomplete: 'off', maxlength: '32', placeholder: 'Username', spellcheck: 'false',
    });
    this.addForm = h('form', { class: 'panel-form', novalidate: true, onsubmit: (e) => this.submitAdd(e) },
      h('label', { for: 'add-member-name' }, 'Add member'),
      h('div', { class: 'panel-row' }, this.addInput, h('button', { type: 'submit', class: 'small' }, 'Add')));
    this.invitesBox = h('div', { class: 'panel-section invites-box' });
    this.renameInput = h('input', { id: 'rename-group-name', name: 'name', autocomplete: 'off', maxlength: '64' });
    this.renameForm = h('form', { class: 'panel-form', novalidate: true, onsubmit: (e) => this.submitRename(e) },
      h('label', { for: 'rename-group-name' }, 'Rename group'),
      h('div', { class: 'panel-row' }, this.renameInput, h('button', { type: 'submit', class: 'small' }, 'Save')));
    this.deleteBtn = h('button', { type: 'button', class: 'ghost small danger-text', onclick: () => this.askDeleteGroup() }, 'Delete group');
    this.deleteBox = h('div', { class: 'panel-form delete-box' }, this.deleteBtn);
    this.settings = h('section', { class: 'panel-section', 'aria-labelledby': 'group-settings-heading' },
      h('h2', { class: 'side-heading', id: 'group-settings-heading' }, 'Group settings'),
      this.renameForm, this.deleteBox);
    this.root.replaceChildren(
      h('h2', { class: 'side-heading', id: 'roster-heading' }, 'Members ', this.count),
      this.list, this.addForm, this.invitesBox, this.settings);
    this.root.hidden = false;
    this.renderTools();
  }

  start() {
    this.refresh();
  }

  close() {
    this.closed = true;
    clearTimeout(this.timer);
    if (this.invites) this.invites.close();
    this.root.replaceChildren();
    this.root.hidden = true;
  }

  /** The membership may have changed (a system line): fetch the list again soon. */
  refreshSoon() {
    if (this.closed) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.refresh(), REFRESH_DELAY);
  }

  async refresh() {
    if (this.closed) return;
    clearTimeout(this.timer);
    // Someone may have joined with a link: its use count changed.
    if (this.invites && this.loaded) this.invites.refresh();
    const seq = ++this.seq;
    let data;
    try {
      data = await api('GET', `/api/groups/${this.t.id}/members`);
    } catch {
      return; // removed or offline: the conversation says so; the list stays as it was
    }
    if (this.closed || seq !== this.seq) return;
    this.members = Array.isArray(data.members) ? data.members : [];
    this.loaded = true;
    const mine = this.members.find((m) => m.username === this.me);
    const role = mine ? mine.role : null;
    if (role !== this.role) {
      this.setRole(role);
      this.onRole(role);
    } else this.render();
  }

  /**
   * `username`'s first socket on the group opened. Only members' sockets
   * can, and the one way in that leaves no system line is joining a public
   * group, which makes a plain member: someone new is listed as one, with
   * no request (a "left" may be a closed tab as well as a member leaving,
   * so it changes nothing).
   */
  cameOnline(username) {
    if (!this.loaded || this.members.some((m) => m.username === username)) return;
    this.members.push({ username, role: 'member', joined_at: Date.now() });
    this.render();
  }

  /** The user's own role changed (from the list, or the socket's hello). */
  setRole(role) {
    if (this.closed) return;
    this.role = role;
    this.renderTools();
    this.render();
  }

  /** The group was renamed. */
  retitle() {
    if (document.activeElement !== this.renameInput) this.renameInput.value = this.t.name;
  }

  // ------------------------------------------------------------ render

  /** Shows the forms the role allows, and the invite links for owners and admins. */
  renderTools() {
    const role = this.role;
    this.addForm.hidden = !can(role, 'add');
    this.renameForm.hidden = !can(role, 'rename');
    this.deleteBox.hidden = !can(role, 'deleteGroup');
    this.settings.hidden = this.renameForm.hidden && this.deleteBox.hidden;
    this.retitle();
    if (can(role, 'invites')) {
      if (!this.invites) this.invites = new InvitesPanel(this.app, this.t, this.invitesBox);
      this.invitesBox.hidden = false;
    } else {
      if (this.invites) this.invites.close();
      this.invites = null;
      this.invitesBox.hidden = true;
    }
  }

  render() {
    if (!this.loaded) return;
    const list = this.members.slice().sort(byRole);
    this.count.textContent = String(list.length);
    renderList(this.list, list, (m) => this.renderMember(m));
  }

  renderMember(m) {
    const isMe = m.username === this.me;
    const name = m.username;
    const role = this.role;
    // One span for the label: the visible words and the name only screen readers hear.
    const act = (label, fk, onclick) => h('button', { type: 'button', class: 'ghost tiny', dataset: { fk: `${fk}:${name}` }, onclick }, h('span', {}, label));
    const actions = [];
    if (!isMe && can(role, 'setRole')) {
      if (m.role === 'member') actions.push(act(['Make', h('span', { class: 'sr-only' }, ` ${name}`), ' admin'], 'admin', () => this.setMemberRole(name, 'admin')));
      if (m.role === 'admin') actions.push(act(['Make', h('span', { class: 'sr-only' }, ` ${name} a`), ' member'], 'member', () => this.setMemberRole(name, 'member')));
    }
    if (!isMe && can(role, 'transfer')) {
      actions.push(act(['Make', h('span', { class: 'sr-only' }, ` ${name}`), ' owner'], 'owner', (e) => this.askTransfer(e.currentTarget, name)));
    }
    if (!isMe && can(role, 'remove', m.role)) {
      actions.push(act(['Remove', h('span', { class: 'sr-only' }, ` ${name}`)], 'remove', () => this.removeMember(name)));
    }
    return h('li', { class: 'person member', dataset: { username: name } },
      avatar(name, 'avatar-sm'),
      h('span', { class: 'person-main' },
        h('span', { class: 'person-name' }, h('span', { class: 'uname' }, name), isMe ? h('span', { class: 'you' }, ' (you)') : null),
        h('span', { class: `role-badge ${m.role}` }, h('span', { class: 'sr-only' }, 'role: '), m.role),
        actions.length ? h('span', { class: 'member-actions' }, actions) : null));
  }

  // ----------------------------------------------------------- actions

  /** Runs a request; a refusal shows the server's reason. True when it went through. */
  async run(fn) {
    try {
      await fn();
      return true;
    } catch (e) {
      if (!this.closed) this.app.alert(e.message || 'That did not work.');
      return false;
    }
  }

  async submitAdd(e) {
    e.preventDefault();
    const username = this.addInput.value.trim();
    if (!username) {
      this.addInput.focus();
      return;
    }
    const ok = await this.run(() => api('POST', `/api/groups/${this.t.id}/members`, { username }));
    if (ok) {
      this.addInput.value = '';
      this.refresh();
    }
  }

  async removeMember(name) {
    if (await this.run(() => api('DELETE', `/api/groups/${this.t.id}/members/${encodeURIComponent(name)}`))) this.refresh();
  }

  async setMemberRole(name, role) {
    if (await this.run(() => api('PATCH', `/api/groups/${this.t.id}/members/${encodeURIComponent(name)}`, { role }))) this.refresh();
  }

  /** Handing the group on cannot be taken back by the one who does it: ask first. */
  askTransfer(button, name) {
    const li = button.closest('li');
    if (!li || li.querySelector('.confirm-bar')) return;
    const bar = confirmBar({
      label: 'Confirm new owner',
      text: `Make ${name} the owner of #${this.t.name}? You will become an admin.`,
      yes: 'Make owner',
      onNo: () => {
        bar.remove();
        button.focus();
      },
      onYes: async () => {
        const ok = await this.run(() => api('PATCH', `/api/groups/${this.t.id}/members/${encodeURIComponent(name)}`, { role: 'owner' }));
        if (ok) this.refresh();
        else bar.remove();
        return ok;
      },
    });
    li.querySelector('.person-main').append(bar);
    bar.cancel.focus();
  }

  async submitRename(e) {
    e.preventDefault();
    const name = this.renameInput.value.trim();
    if (!name || name === this.t.name) {
      this.renameInput.value = this.t.name;
      return;
    }
    await this.run(async () => {
      const g = await api('PATCH', `/api/groups/${this.t.id}`, { name });
      this.app.updateGroup(g);
      this.renameInput.value = g.name;
    });
  }

  askDeleteGroup() {
    if (this.deleteBox.querySelector('.confirm-bar')) return;
    const id = this.t.id;
    const bar = confirmBar({
      label: 'Confirm group deletion',
      text: `Delete #${this.t.name} and all its messages for everyone?`,
      yes: 'Delete group',
      onNo: () => {
        bar.remove();
        this.deleteBtn.hidden = false;
        this.deleteBtn.focus();
      },
      onYes: async () => {
        const ok = await this.run(() => api('DELETE', `/api/groups/${id}`));
        if (ok) this.app.groupDeleted(id);
        return ok;
      },
    });
    this.deleteBtn.hidden = true;
    this.deleteBox.append(bar);
    bar.cancel.focus();
  }
}
