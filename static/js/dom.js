// Tiny DOM helpers. Every user-supplied string goes through textContent or
// text nodes; nothing in the client ever assigns innerHTML.

/**
 * Creates an element. `props`: `class`, `text` (textContent), `dataset`,
 * `on<event>` (listeners), any other key becomes an attribute (never a
 * `style` attribute: the page's CSP forbids inline styles). Children may be
 * strings (text nodes), nodes, arrays, or null/false (skipped).
 */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  setProps(el, props);
  append(el, children);
  return el;
}

function setProps(el, props) {
  for (const [key, value] of Object.entries(props || {})) {
    if (value == null || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key === 'text') el.textContent = String(value);
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key.startsWith('on') && typeof value === 'function') {
      el.addEventListener(key.slice(2).toLowerCase(), value);
    } else if (key === 'style' || key === 'innerHTML') {
      throw new Error(`h(): "${key}" is not allowed`);
    } else el.setAttribute(key, value === true ? '' : String(value));
  }
}

function append(parent, children) {
  for (const child of children.flat(Infinity)) {
    if (child == null || child === false) continue;
    parent.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

const SVG = 'http://www.w3.org/2000/svg';

/** Path data for the few icons the client draws. */
const ICONS = {
  lock: ['M7 11V8a5 5 0 0 1 10 0v3', 'M5 11h14v10H5z'],
  chat: ['M5 6h14a2 2 0 0 1 2 2v7a2 2 0 0 1-2 2h-7l-4 3v-3H5a2 2 0 0 1-2-2V8a2 2 0 0 1 2-2z'],
  down: ['M12 5v14', 'M6 13l6 6 6-6'],
  hash: ['M9 4L7 20', 'M17 4l-2 16', 'M4 9h16', 'M3 15h16'],
  users: ['M16 20v-1a4 4 0 0 0-4-4H7a4 4 0 0 0-4 4v1', 'M9.5 11a3.5 3.5 0 1 0 0-7 3.5 3.5 0 0 0 0 7z', 'M21 20v-1a4 4 0 0 0-3-3.9', 'M15.5 4.1a3.5 3.5 0 0 1 0 6.8'],
  alert: ['M12 8v5', 'M12 16.5v.5', 'M10.3 3.9L2.4 18a2 2 0 0 0 1.7 3h15.8a2 2 0 0 0 1.7-3L13.7 3.9a2 2 0 0 0-3.4 0z'],
  close: ['M6 6l12 12', 'M18 6L6 18'],
  door: ['M6 21V4.5A1.5 1.5 0 0 1 7.5 3h9A1.5 1.5 0 0 1 18 4.5V21', 'M3.5 21h17', 'M14.5 12.5v.5'],
};

/** An inline SVG icon (decorative unless `label` is given). */
export function icon(name, { size = 16, label = null, cls = '' } = {}) {
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('width', String(size));
  svg.setAttribute('height', String(size));
  svg.setAttribute('class', `icon ${cls}`.trim());
  if (label) {
    svg.setAttribute('role', 'img');
    svg.setAttribute('aria-label', label);
  } else svg.setAttribute('aria-hidden', 'true');
  for (const d of ICONS[name] || []) {
    const path = document.createElementNS(SVG, 'path');
    path.setAttribute('d', d);
    path.setAttribute('fill', 'none');
    path.setAttribute('stroke', 'currentColor');
    path.setAttribute('stroke-width', '2');
    path.setAttribute('stroke-linecap', 'round');
    path.setAttribute('stroke-linejoin', 'round');
    svg.append(path);
  }
  return svg;
}

/** The lock mark of an end-to-end encrypted group. */
export function lockMark() {
  return h('span', { class: 'lock', role: 'img', 'aria-label': 'End-to-end encrypted', title: 'End-to-end encrypted' },
    icon('lock', { size: 13 }));
}

/** The mark of a private group (invisible to everyone outside it). */
export function privateMark() {
  return h('span', { class: 'private-mark', role: 'img', 'aria-label': 'Private group', title: 'Private group: only its members can see it' },
    icon('door', { size: 13 }));
}

/**
 * An inline "are you sure?" bar: `text`, a Cancel button and a danger
 * button `yes` that runs `onYes()` (async; while it runs the button is
 * disabled; when it resolves to false the bar stays up). Escape or Cancel
 * runs `onNo()`. The caller places the bar and focuses its Cancel button
 * (`bar.cancel`).
 */
export function confirmBar({ label, text, yes, onYes, onNo }) {
  const no = h('button', { type: 'button', class: 'ghost small', onclick: () => onNo() }, 'Cancel');
  const go = h('button', {
    type: 'button',
    class: 'danger small',
    onclick: async () => {
      go.disabled = true;
      if ((await onYes()) === false) go.disabled = false;
    },
  }, yes);
  const bar = h('div', { class: 'confirm-bar', role: 'group', 'aria-label': label }, h('span', {}, text), no, go);
  bar.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') no.click();
  });
  bar.cancel = no;
  return bar;
}

/** One or two letters for an avatar. */
export function initials(name) {
  const parts = String(name).split(/[._\-\s]+/).filter(Boolean);
  const letters = parts.length > 1 ? parts[0][0] + parts[1][0] : String(name).slice(0, 2);
  return letters.toUpperCase();
}

/** A stable colour class (`av-0` … `av-7`) for a user name. */
export function avatarClass(name) {
  let hash = 0;
  for (const ch of String(name).toLowerCase()) hash = (hash * 31 + ch.codePointAt(0)) >>> 0;
  return `av-${hash % 8}`;
}

/** A decorative avatar with initials. */
export function avatar(name, size = '') {
  return h('span', { class: `avatar ${avatarClass(name)} ${size}`.trim(), 'aria-hidden': 'true' }, initials(name));
}

/**
 * Rebuilds a list's children from `items`, keeping keyboard focus on the
 * element that had it (matched by its `data-fk` key).
 */
export function renderList(list, items, render) {
  const active = document.activeElement;
  const focusKey = active && list.contains(active) ? active.dataset.fk : null;
  list.replaceChildren(...items.map(render));
  if (focusKey) {
    const again = [...list.querySelectorAll('[data-fk]')].find((el) => el.dataset.fk === focusKey);
    if (again) again.focus();
  }
}

/**
 * Grows a textarea with its content up to `max` pixels (through the style
 * property, which the CSP allows, unlike a `style` attribute).
 */
export function autosize(el, max = 200) {
  el.style.height = 'auto';
  el.style.height = `${Math.min(el.scrollHeight + 2, max)}px`;
}

/** A random id for `client_id`. */
export function randomId() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return [...bytes].map((b) => b.toString(16).padStart(2, '0')).join('');
}
