// What a search query means, read the way the server's index reads it
// (src/chat/search.rs): words are runs of letters and digits, each typed
// word matches by prefix (a single letter only matches itself), "quoted
// phrases" match exactly, every term must match, case and accents do not
// count. The page uses it to highlight what matched in the results, and to
// search the decrypted messages of an encrypted conversation, which the
// server cannot index. Pure functions of strings; no DOM.

const WORD = /[\p{L}\p{N}]+/gu;

/** Lower case without accents: "Déployé" → "deploye". */
export function fold(s) {
  return s.normalize('NFD').replace(/\p{M}/gu, '').toLowerCase();
}

function words(text) {
  return (text.match(WORD) || []).map(fold);
}

function wordTerm(w) {
  return { kind: [...w].length > 1 ? 'prefix' : 'word', words: [w] };
}

/**
 * The terms of a query: [{kind: 'prefix' | 'word' | 'phrase', words}], or
 * null when it has none or a quote is not closed (the server explains why).
 */
export function parseQuery(q) {
  const terms = [];
  const parts = String(q).split('"');
  if (parts.length % 2 === 0) return null;
  parts.forEach((part, i) => {
    if (i % 2 === 0) terms.push(...words(part).map(wordTerm));
    else if (words(part).length) terms.push({ kind: 'phrase', words: words(part) });
  });
  return terms.length ? terms : null;
}

/** The words of `text` with where they are: [{start, end, word (folded)}]. */
function tokens(text) {
  return [...text.matchAll(WORD)].map((m) => ({ start: m.index, end: m.index + m[0].length, word: fold(m[0]) }));
}

function tokenMatches(token, term, w) {
  return term.kind === 'prefix' ? token.word.startsWith(w) : token.word === w;
}

/** Where one term matches in the tokens: [[start, end], …]. */
function termRanges(toks, term) {
  const out = [];
  const n = term.words.length;
  for (let i = 0; i + n <= toks.length; i += 1) {
    if (term.words.every((w, k) => tokenMatches(toks[i + k], term, w))) out.push([toks[i].start, toks[i + n - 1].end]);
  }
  return out;
}

function merge(ranges) {
  const sorted = ranges.slice().sort((a, b) => a[0] - b[0]);
  const out = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last && r[0] <= last[1]) last[1] = Math.max(last[1], r[1]);
    else out.push([r[0], r[1]]);
  }
  return out;
}

/** The stretches of `text` that the terms match, sorted and merged: [[start, end], …]. */
export function matchRanges(text, terms) {
  const toks = tokens(text);
  return merge((terms || []).flatMap((t) => termRanges(toks, t)));
}

/** Whether every term matches somewhere in `text` (as the server's AND). */
export function matchesAll(text, terms) {
  if (!terms || !terms.length) return false;
  const toks = tokens(text);
  return terms.every((t) => termRanges(toks, t).length > 0);
}

/**
 * `text` cut into pieces for display: [{text, hit}], at most about `max`
 * characters around the first match (with "…" where it was cut).
 */
export function highlightPieces(text, terms, max = 280) {
  const ranges = matchRanges(text, terms);
  let from = 0;
  let to = text.length;
  if (text.length > max) {
    const first = ranges.length ? ranges[0][0] : 0;
    from = Math.max(0, Math.min(first - Math.floor(max / 4), text.length - max));
    to = Math.min(text.length, from + max);
  }
  const pieces = [];
  if (from > 0) pieces.push({ text: '…', hit: false });
  let at = from;
  for (const [s, e] of ranges) {
    if (e <= from || s >= to) continue;
    const start = Math.max(s, from);
    const end = Math.min(e, to);
    if (start > at) pieces.push({ text: text.slice(at, start), hit: false });
    pieces.push({ text: text.slice(start, end), hit: true });
    at = end;
  }
  if (at < to) pieces.push({ text: text.slice(at, to), hit: false });
  if (to < text.length) pieces.push({ text: '…', hit: false });
  return pieces;
}
