// @mentions in the composer: the autocomplete listbox of the conversation's
// members that opens on "@" + letters (arrow keys, Enter/Tab to pick,
// Escape to close, or a click), and the list of members a text mentions
// (which an E2E message frame must carry, since the server cannot read it).

import { h } from './dom.js';

const SHOWN = 8;
/** "@" + what is typed so far, right before the caret, not inside a word or an e-mail address. */
const TYPING = /(?:^|[^\p{L}\p{N}_.@-])@([A-Za-z0-9_.-]{0,32})$/u;
const NAME = /(?<![\p{L}\p{N}_.@-])@([A-Za-z0-9_.-]{3,32})/gu;

/** Members named with @ in `text` (each once, spelt as the member list has it), not me. */
export function mentionedNames(text, members, me = '') {
  const byKey = new Map(members.map((n) => [n.toLowerCase(), n]));
  const out = [];
  for (const m of String(text).matchAll(NAME)) {
    let name = m[1];
    // "@bob." at the end of a sentence is @bob.
    while (name && !byKey.has(name.toLowerCase()) && /[.-]$/u.test(name)) name = name.slice(0, -1);
    const found = byKey.get(name.toLowerCase());
    if (found && found.toLowerCase() !== me.toLowerCase() && !out.includes(found)) out.push(found);
  }
  return out;
}

export class MentionAutocomplete {
  /**
   * @param input    the composer's textarea
   * @param list     the listbox element (an empty <ul role="listbox">)
   * @param members  () => usernames of the conversation's members
   * @param me       my username (not offered)
   */
  constructor(input, list, members, me) {
    this.input = input;
    this.list = list;
    this.members = members;
    this.me = me;
    this.items = [];
    this.active = 0;
    this.start = -1;
    this.onInput = () => this.update();
    this.onKey = (e) => this.key(e);
    this.onBlur = () => setTimeout(() => {
      if (document.activeElement !== this.input) this.hide();
    }, 150);
  }

  attach() {
    this.input.setAttribute('aria-autocomplete', 'list');
    this.input.setAttribute('aria-controls', this.list.id);
    this.input.addEventListener('input', this.onInput);
    this.input.addEventListener('click', this.onInput);
    this.input.addEventListener('blur', this.onBlur);
    // Capturing on the form runs before the page's own Enter-sends handler.
    this.input.form.addEventListener('keydown', this.onKey, true);
    return this;
  }

  detach() {
    this.hide();
    this.input.removeEventListener('input', this.onInput);
    this.input.removeEventListener('click', this.onInput);
    this.input.removeEventListener('blur', this.onBlur);
    this.input.form.removeEventListener('keydown', this.onKey, true);
  }

  get open() {
    return !this.list.hidden;
  }

  /** Reads what is typed before the caret and shows the matching members. */
  update() {
    const { value, selectionStart, selectionEnd } = this.input;
    if (selectionStart !== selectionEnd) return this.hide();
    const m = TYPING.exec(value.slice(0, selectionStart));
    if (!m) return this.hide();
    const typed = m[1].toLowerCase();
    const me = this.me().toLowerCase();
    const items = this.members().filter((n) => n.toLowerCase() !== me && n.toLowerCase().startsWith(typed))
      .sort((a, b) => a.localeCompare(b, undefined, { sensitivity: 'base' }))
      .slice(0, SHOWN);
    if (!items.length) return this.hide();
    this.start = selectionStart - m[1].length - 1;
    this.items = items;
    this.active = 0;
    this.render();
    return undefined;
  }

  render() {
    this.list.replaceChildren(...this.items.map((name, i) => h('li', {
      id: `mention-opt-${i}`,
      role: 'option',
      class: `mention-opt${i === this.active ? ' active' : ''}`,
      'aria-selected': String(i === this.active),
      onmousedown: (e) => e.preventDefault(),
      onclick: () => this.pick(i),
    }, `@${name}`)));
    this.list.hidden = false;
    this.input.setAttribute('aria-activedescendant', `mention-opt-${this.active}`);
  }

  hide() {
    if (this.list.hidden && !this.items.length) return;
    this.items = [];
    this.list.hidden = true;
    this.list.replaceChildren();
    this.input.removeAttribute('aria-activedescendant');
  }

  key(e) {
    if (!this.open || e.target !== this.input || e.isComposing) return;
    const n = this.items.length;
    if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
      this.active = (this.active + (e.key === 'ArrowDown' ? 1 : n - 1)) % n;
      this.render();
    } else if (e.key === 'Enter' || e.key === 'Tab') {
      if (e.shiftKey) return;
      this.pick(this.active);
    } else if (e.key === 'Escape') {
      this.hide();
    } else return;
    e.preventDefault();
    e.stopPropagation();
  }

  /** Puts "@name " in place of what was typed. */
  pick(i) {
    const name = this.items[i];
    if (!name) return;
    const { value, selectionStart } = this.input;
    const before = value.slice(0, this.start);
    const after = value.slice(selectionStart);
    const insert = `@${name}${after.startsWith(' ') ? '' : ' '}`;
    this.input.value = before + insert + after;
    const caret = before.length + insert.length;
    this.input.setSelectionRange(caret, caret);
    this.hide();
    this.input.focus();
    this.input.dispatchEvent(new Event('input', { bubbles: true }));
  }
}
