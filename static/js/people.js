// The "New message" people picker of the Direct messages section: choose one
// to nine other people (from who is online, or by typing a username), see
// them as removable chips, tick Encrypted for an end-to-end encrypted one,
// and Start. The server keeps one conversation per set of people (and one
// more, encrypted, when asked for), so picking the same people again
// reopens it.

import { h, renderList } from './dom.js';

const $ = (id) => document.getElementById(id);

/** Others in one conversation, at most (PROTOCOL: 2–9 others for a group DM). */
export const MAX_PEOPLE = 9;

export class PeoplePicker {
  /**
   * @param app    the shell: `me`, `onlineUsers`
   * @param start  async (usernames, {e2e}) => whether the conversation opened
   */
  constructor(app, start) {
    this.app = app;
    this.start = start;
    this.toggleBtn = $('new-dm');
    this.box = $('people-picker');
    this.chosen = [];
    this.build();
    this.toggleBtn.addEventListener('click', () => this.setOpen(this.box.hidden));
  }

  build() {
    this.chips = h('ul', { class: 'chips', 'aria-label': 'People in the new conversation' });
    this.input = h('input', {
      id: 'people-input', type: 'text', autocomplete: 'off', maxlength: '64', placeholder: 'Username, then Enter',
    });
    this.problem = h('p', { class: 'form-error', role: 'alert', hidden: true });
    this.suggest = h('ul', { class: 'people-suggest', 'aria-label': 'Online people to add' });
    this.go = h('button', { type: 'submit', class: 'small', disabled: true }, 'Start');
    this.e2e = h('input', { type: 'checkbox', id: 'people-e2e', name: 'e2e' });
    const e2eHelp = 'Encrypted in your browsers: the server cannot read it. A separate conversation from the unencrypted one with the same people.';
    const cancel = h('button', { type: 'button', class: 'ghost small', onclick: () => this.setOpen(false) }, 'Cancel');
    const form = h('form', { class: 'people-form', novalidate: true },
      h('label', { for: 'people-input' }, 'Add people'),
      this.chips,
      h('div', { class: 'create-row' }, this.input, h('button', { type: 'button', class: 'ghost small', onclick: () => this.addTyped() }, 'Add')),
      this.problem,
      this.suggest,
      h('label', { class: 'check people-e2e', title: e2eHelp }, this.e2e, h('span', {}, 'Encrypted')),
      h('div', { class: 'people-actions' }, cancel, this.go));
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      if (this.input.value.trim()) this.addTyped();
      else this.submit();
    });
    this.input.addEventListener('input', () => this.say(''));
    // Enter adds the typed name (the form's implicit submission does
    // nothing while Start is disabled).
    this.input.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.isComposing) {
        e.preventDefault();
        if (this.input.value.trim()) this.addTyped();
        else this.submit();
      }
    });
    form.addEventListener('keydown', (e) => {
      if (e.key === 'Escape') {
        e.stopPropagation();
        this.setOpen(false);
      }
    });
    this.box.replaceChildren(form);
  }

  setOpen(open) {
    this.box.hidden = !open;
    this.toggleBtn.setAttribute('aria-expanded', String(open));
    if (open) {
      this.render();
      this.input.focus();
    } else {
      this.chosen = [];
      this.input.value = '';
      this.e2e.checked = false;
      this.say('');
      this.toggleBtn.focus();
    }
  }

  say(text) {
    this.problem.textContent = text;
    this.problem.hidden = !text;
  }

  addTyped() {
    const name = this.input.value.trim().replace(/^@/, '');
    if (!name) return;
    if (this.add(name)) this.input.value = '';
    this.input.focus();
  }

  /** Adds a person; false (and says why) when that cannot be. */
  add(name) {
    const lower = name.toLowerCase();
    if (lower === this.app.me.username.toLowerCase()) {
      this.say('You are in it already: add the others.');
      return false;
    }
    if (this.chosen.some((n) => n.toLowerCase() === lower)) {
      this.say(`${name} is already added.`);
      return false;
    }
    if (this.chosen.length >= MAX_PEOPLE) {
      this.say(`A conversation has at most ${MAX_PEOPLE} others.`);
      return false;
    }
    this.say('');
    this.chosen.push(name);
    this.render();
    return true;
  }

  remove(name) {
    this.chosen = this.chosen.filter((n) => n !== name);
    this.render();
    this.input.focus();
  }

  /** Chips, and the online people not yet chosen. */
  render() {
    renderList(this.chips, this.chosen, (n) => h('li', { class: 'chip' },
      h('span', { class: 'chip-name' }, n),
      h('button', {
        type: 'button', class: 'chip-x', 'aria-label': `Remove ${n}`, dataset: { fk: `x:${n}` }, onclick: () => this.remove(n),
      }, '×')));
    const taken = new Set(this.chosen.map((n) => n.toLowerCase()));
    const me = this.app.me.username.toLowerCase();
    const others = (this.app.onlineUsers || []).map((u) => u.username)
      .filter((n) => n.toLowerCase() !== me && !taken.has(n.toLowerCase()))
      .sort((a, b) => a.localeCompare(b, undefined, { sensitivity: 'base' }));
    renderList(this.suggest, others, (n) => h('li', {},
      h('button', {
        type: 'button', class: 'link-btn', 'aria-label': `Add ${n}`, dataset: { fk: `a:${n}` }, onclick: () => this.add(n),
      }, `+ ${n}`)));
    this.go.disabled = !this.chosen.length;
  }

  /** Online people changed (the `online` notice). */
  refresh() {
    if (!this.box.hidden) this.render();
  }

  async submit() {
    if (!this.chosen.length) {
      this.say('Add at least one person.');
      return;
    }
    this.go.disabled = true;
    const ok = await this.start(this.chosen.slice(), { e2e: this.e2e.checked });
    this.go.disabled = false;
    if (ok) this.setOpen(false);
  }
}
