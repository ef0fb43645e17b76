// A group's invite links, for its owner and admins (inside the members
// panel, members.js): make one — optionally good for a number of uses, or
// until a time — see the live ones with their use counts and expiry, copy
// a link's full address, revoke one. Whoever opens a link is asked to log
// in or register, and joins as a plain member.

import { h, renderList } from './dom.js';
import { api } from './api.js';
import { relative, longTime } from './time.js';

/** The choices of the "Expires" select: seconds, or '' for never. */
const EXPIRY = [['3600', '1 hour'], ['86400', '1 day'], ['604800', '7 days'], ['', 'Never']];
const DEFAULT_EXPIRY = '604800';
/** How long a Copy button says "Copied". */
const COPIED_SHOWN = 1500;

export class InvitesPanel {
  /**
   * @param app     the page (alert())
   * @param target  the conversation's {id, …}
   * @param box     the element to fill
   */
  constructor(app, target, box) {
    this.app = app;
    this.t = target;
    this.box = box;
    this.closed = false;
    this.seq = 0;
    this.invites = [];
    this.build();
    this.refresh();
  }

  build() {
    this.uses = h('input', {
      id: 'invite-max-uses', name: 'max_uses', type: 'number', min: '1', max: '100000', step: '1', inputmode: 'numeric', placeholder: 'No limit',
    });
    this.expiry = h('select', { id: 'invite-expiry', name: 'expires_in_s' },
      EXPIRY.map(([value, label]) => h('option', { value, selected: value === DEFAULT_EXPIRY }, label)));
    this.createBtn = h('button', { type: 'submit', class: 'small' }, 'Create invite link');
    this.form = h('form', { class: 'panel-form invite-form', novalidate: true, onsubmit: (e) => this.submit(e) },
      h('div', { class: 'invite-fields' },
        h('span', { class: 'field' }, h('label', { for: 'invite-max-uses' }, 'Max uses'), this.uses),
        h('span', { class: 'field' }, h('label', { for: 'invite-expiry' }, 'Expires'), this.expiry)),
      this.createBtn);
    this.list = h('ul', { class: 'invite-list', 'aria-label': 'Invite links' });
    this.box.replaceChildren(
      h('h2', { class: 'side-heading', id: 'invites-heading' }, 'Invite links'),
      h('p', { class: 'panel-hint' }, 'Anyone with a link can join as a member until it expires, is used up or is revoked.'),
      this.form, this.list);
  }

  close() {
    this.closed = true;
    this.box.replaceChildren();
  }

  async refresh() {
    const seq = ++this.seq;
    let data;
    try {
      data = await api('GET', `/api/groups/${this.t.id}/invites`);
    } catch {
      return; // the role changed meanwhile, or offline: the panel follows on its next refresh
    }
    if (this.closed || seq !== this.seq) return;
    this.invites = Array.isArray(data.invites) ? data.invites : [];
    this.render();
  }

  render() {
    renderList(this.list, this.invites, (i) => this.renderInvite(i));
    if (!this.invites.length) this.list.replaceChildren(h('li', { class: 'side-empty' }, 'No invite links yet.'));
  }

  renderInvite(inv) {
    const url = `${window.location.origin}${inv.url}`;
    const tag = inv.code.slice(0, 8);
    const input = h('input', {
      class: 'invite-url', readonly: true, value: url, 'aria-label': 'Invite link', spellcheck: 'false', onfocus: (e) => e.target.select(),
    });
    const copy = h('button', { type: 'button', class: 'ghost tiny', dataset: { fk: `copy:${inv.code}` } },
      h('span', {}, h('span', { class: 'copy-label' }, 'Copy'), h('span', { class: 'sr-only' }, ` invite link ${tag}`)));
    copy.addEventListener('click', () => this.copy(input, copy));
    const revoke = h('button', {
      type: 'button', class: 'ghost tiny danger-text', dataset: { fk: `revoke:${inv.code}` }, onclick: () => this.revoke(inv),
    }, h('span', {}, 'Revoke', h('span', { class: 'sr-only' }, ` invite link ${tag}`)));
    return h('li', { class: 'invite', dataset: { code: inv.code } },
      input,
      h('span', { class: 'invite-meta' }, usesText(inv), ' · ', expiryText(inv)),
      h('span', { class: 'member-actions' }, copy, revoke));
  }

  async submit(e) {
    e.preventDefault();
    const raw = this.uses.value.trim();
    const maxUses = raw ? Number(raw) : null;
    if (raw && !(Number.isInteger(maxUses) && maxUses >= 1 && maxUses <= 100000)) {
      this.app.alert('Max uses is a whole number from 1 to 100000, or empty for no limit.');
      this.uses.focus();
      return;
    }
    const expires = this.expiry.value ? Number(this.expiry.value) : null;
    this.createBtn.disabled = true;
    try {
      const inv = await api('POST', `/api/groups/${this.t.id}/invites`, { max_uses: maxUses, expires_in_s: expires });
      if (this.closed) return;
      this.uses.value = '';
      this.invites = [inv, ...this.invites.filter((i) => i.code !== inv.code)];
      this.render();
      const input = this.list.querySelector(`li[data-code="${inv.code}"] .invite-url`);
      if (input) input.focus();
    } catch (err) {
      if (!this.closed) this.app.alert(err.message || 'The invite link could not be made.');
    } finally {
      this.createBtn.disabled = false;
    }
  }

  async revoke(inv) {
    try {
      await api('DELETE', `/api/groups/${this.t.id}/invites/${inv.code}`);
    } catch (e) {
      if (e.status !== 404) {
        this.app.alert(e.message || 'The invite link could not be revoked.');
        return;
      }
    }
    if (this.closed) return;
    this.invites = this.invites.filter((i) => i.code !== inv.code);
    this.render();
  }

  /** Copies a link (the clipboard API where the page may use it, else the selection). */
  async copy(input, button) {
    input.select();
    let done = false;
    try {
      await navigator.clipboard.writeText(input.value);
      done = true;
    } catch {
      try {
        done = document.execCommand('copy');
      } catch {
        done = false;
      }
    }
    const label = button.querySelector('.copy-label');
    label.textContent = done ? 'Copied' : 'Press Ctrl+C';
    setTimeout(() => {
      label.textContent = 'Copy';
    }, COPIED_SHOWN);
  }
}

function usesText(inv) {
  const used = `${inv.uses} ${inv.uses === 1 ? 'use' : 'uses'}`;
  if (inv.max_uses == null) return used;
  if (inv.uses >= inv.max_uses) return `${inv.uses} of ${inv.max_uses} uses (used up)`;
  return `${inv.uses} of ${inv.max_uses} uses`;
}

function expiryText(inv) {
  if (inv.expires_at == null) return 'never expires';
  return h('time', { datetime: new Date(inv.expires_at).toISOString(), title: longTime(inv.expires_at) }, `expires ${relative(inv.expires_at)}`);
}
