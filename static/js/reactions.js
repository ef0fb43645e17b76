// Emoji reactions under a message: the row of chips (one per emoji, with
// its count, pressed when I reacted, naming who did), the small picker
// that adds one (common emoji, or any single emoji typed), and the request
// that toggles mine. The view places what these build; the conversation
// sends the requests. No state of its own beyond the picker on screen.

import { h } from './dom.js';
import { api } from './api.js';

export const COMMON = ['👍', '❤️', '😂', '🎉', '😮', '😢', '🙏', '👀'];

const PICTOGRAPH = /\p{Extended_Pictographic}|\p{Regional_Indicator}|\u20e3/u;

/** Whether `s` is exactly one emoji (one grapheme that is a pictograph, flag or keycap). */
export function isOneEmoji(s) {
  const t = String(s).trim();
  if (!t || !PICTOGRAPH.test(t)) return false;
  if (typeof Intl !== 'undefined' && Intl.Segmenter) {
    const seg = new Intl.Segmenter(undefined, { granularity: 'grapheme' });
    return [...seg.segment(t)].length === 1;
  }
  return [...t].length <= 8;
}

/** Sets (on) or clears my reaction; resolves to the message's reactions, throws ApiError. */
export async function react(messageId, emoji, on) {
  const path = `/api/messages/${messageId}/reactions/${encodeURIComponent(emoji)}`;
  const r = await api(on ? 'PUT' : 'DELETE', path);
  return r && r.reactions ? r.reactions : null;
}

/** "👍 by alice, bob" */
export function whoReacted(emoji, users) {
  return `${emoji} by ${users.join(', ')}`;
}

/**
 * The chips for a message's `reactions` ({emoji: [usernames]}); `toggle(emoji,
 * on)` when one is clicked. Null when there are none.
 */
export function reactionRow(reactions, me, toggle) {
  const entries = Object.entries(reactions || {}).filter(([, users]) => Array.isArray(users) && users.length);
  if (!entries.length) return null;
  const mine = (users) => users.some((u) => u.toLowerCase() === String(me).toLowerCase());
  return h('div', { class: 'reactions', role: 'group', 'aria-label': 'Reactions' },
    entries.map(([emoji, users]) => {
      const pressed = mine(users);
      const label = whoReacted(emoji, users);
      return h('button', {
        type: 'button',
        class: `reaction${pressed ? ' mine' : ''}`,
        'aria-pressed': String(pressed),
        'aria-label': label,
        title: label,
        dataset: { emoji },
        onclick: () => toggle(emoji, !pressed),
      }, h('span', { class: 'reaction-emoji', 'aria-hidden': 'true' }, emoji),
      h('span', { class: 'reaction-count', 'aria-hidden': 'true' }, String(users.length)));
    }));
}

/**
 * The picker: common emoji and a field for any other one. `pick(emoji)`
 * resolves to an error text to show, or null when it worked (the picker
 * then closes through `close()`). Escape closes it.
 */
export function reactionPicker(pick, close) {
  const error = h('p', { class: 'picker-error', role: 'alert' });
  error.hidden = true;
  const run = async (emoji) => {
    const why = await pick(emoji);
    if (why) {
      error.textContent = why;
      error.hidden = false;
    } else close();
  };
  const input = h('input', {
    type: 'text', class: 'picker-input', 'aria-label': 'Any emoji', placeholder: 'Any emoji', maxlength: '32', autocomplete: 'off',
  });
  const form = h('form', {
    class: 'picker-other',
    onsubmit: (e) => {
      e.preventDefault();
      const v = input.value.trim();
      if (!isOneEmoji(v)) {
        error.textContent = 'Type exactly one emoji.';
        error.hidden = false;
        input.focus();
        return;
      }
      run(v);
    },
  }, input, h('button', { type: 'submit', class: 'small' }, 'Add'));
  const el = h('div', { class: 'reaction-picker', role: 'dialog', 'aria-label': 'Add reaction' },
    h('div', { class: 'picker-common' },
      COMMON.map((emoji) => h('button', {
        type: 'button', class: 'picker-emoji', 'aria-label': `React with ${emoji}`, title: emoji, onclick: () => run(emoji),
      }, emoji))),
    form,
    h('button', { type: 'button', class: 'ghost small picker-close', onclick: () => close() }, 'Close'),
    error);
  el.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') {
      e.preventDefault();
      e.stopPropagation();
      close();
    }
  });
  return el;
}
