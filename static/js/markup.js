// Light formatting for message text, built as DOM nodes (text nodes and a
// few elements), never as HTML: whatever a message says, it can only ever
// become text, <strong>, <em>, <code>, <pre>, an http(s) <a> or a mention
// <span>. Supported: ```fenced blocks```, `code`, **bold**, _italic_,
// http:// and https:// links, and @name for the names in `mentions`.
// `markup(text, opts)` is pure (no state, no network), so it is easy to test.

import { h } from './dom.js';

const FENCE = /```(?:[^\S\n]*[\w+-]*[^\S\n]*\n)?([\s\S]*?)```/g;
/**
 * One inline token at a time: code, link, bold, italic, mention. Italic
 * underscores must not sit inside a word (snake_case_names stay as typed).
 */
const INLINE = new RegExp([
  '`([^`\\n]+)`',
  '(https?:\\/\\/[^\\s<>"]+)',
  '\\*\\*(?=\\S)([\\s\\S]+?)\\*\\*',
  '(?<![\\p{L}\\p{N}_])_(?=\\S)([^_\\n]+?)_(?![\\p{L}\\p{N}_])',
  '(?<![\\p{L}\\p{N}_.@-])@([A-Za-z0-9_.-]{3,32})',
].join('|'), 'gu');

/** Characters a link does not end with (they end the sentence around it). */
const TRAILING = /[.,:;!?'")\]}]+$/u;

/**
 * `text` as a DocumentFragment.
 * @param opts.mentions  usernames this message mentions (only they are highlighted)
 * @param opts.me        my username (`mention-me`)
 */
export function markup(text, { mentions = [], me = '' } = {}) {
  const frag = document.createDocumentFragment();
  const names = new Set(mentions.map((n) => String(n).toLowerCase()));
  const ctx = { names, me: String(me).toLowerCase() };
  let last = 0;
  const s = String(text);
  for (const m of s.matchAll(FENCE)) {
    if (m.index > last) inline(frag, s.slice(last, m.index), ctx);
    frag.append(h('pre', { class: 'code-block' }, h('code', {}, m[1].replace(/\n$/u, ''))));
    last = m.index + m[0].length;
  }
  if (last < s.length) inline(frag, s.slice(last), ctx);
  return frag;
}

/** Whether a markup fragment mentions me (a `.mention-me` in it). */
export function mentionsMe(node) {
  return !!node.querySelector && !!node.querySelector('.mention-me');
}

function inline(parent, s, ctx) {
  let last = 0;
  for (const m of s.matchAll(INLINE)) {
    const [whole, code, url, bold, italic, name] = m;
    const start = m.index;
    let end = start + whole.length;
    let node = null;
    if (code !== undefined) node = h('code', {}, code);
    else if (url !== undefined) {
      const trimmed = url.replace(TRAILING, '');
      end = start + trimmed.length;
      node = link(trimmed);
    } else if (bold !== undefined) {
      node = h('strong');
      inline(node, bold, ctx);
    } else if (italic !== undefined) {
      node = h('em');
      inline(node, italic, ctx);
    } else if (name !== undefined) {
      const key = name.toLowerCase();
      if (ctx.names.has(key)) {
        const me = key === ctx.me;
        node = h('span', { class: `mention${me ? ' mention-me' : ''}`, dataset: { user: name } }, `@${name}`);
      }
    }
    if (!node) continue;
    if (start > last) parent.append(s.slice(last, start));
    parent.append(node);
    // A trimmed link leaves its punctuation to the text after it.
    last = end;
  }
  if (last < s.length) parent.append(s.slice(last));
}

/** An <a> for an http(s) URL, or its text when it does not parse as one. */
function link(href) {
  let url;
  try {
    url = new URL(href);
  } catch {
    return document.createTextNode(href);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return document.createTextNode(href);
  return h('a', { href: url.href, rel: 'noopener noreferrer', target: '_blank' }, href);
}
