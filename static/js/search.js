// Message search: the topbar's search box and its results panel. The
// server searches the plaintext conversations the user is in
// (`GET /api/search`, newest first, pages through `before`); it cannot
// search end-to-end encrypted ones, so when the open conversation is
// encrypted the panel adds what this browser decrypted there
// (`searchLoaded`, conversation.js), matched the way the server matches
// (search-terms.js), and says that this is all it can do. Every result is
// built from text nodes; matched terms are `<mark>` elements.

import { h, renderList } from './dom.js';
import { api } from './api.js';
import { hms, iso, dayLabel } from './time.js';
import { parseQuery, matchesAll, highlightPieces } from './search-terms.js';

const $ = (id) => document.getElementById(id);

const PAGE = 20;

/** The excerpt of a message with its matches marked. */
function excerpt(text, terms) {
  return highlightPieces(text || '', terms).map((p) => (p.hit ? h('mark', {}, p.text) : p.text));
}

export class SearchPanel {
  constructor(app) {
    this.app = app;
    this.form = $('search-form');
    this.input = $('search-input');
    this.panel = $('search-panel');
    this.here = $('search-here');
    this.status = $('search-status');
    this.error = $('search-error');
    this.list = $('search-results');
    this.localBox = $('search-local');
    this.localList = $('search-local-results');
    this.more = $('search-more');
    this.results = [];
    this.seq = 0;
    this.form.addEventListener('submit', (e) => {
      e.preventDefault();
      this.run();
    });
    this.here.addEventListener('change', () => {
      if (this.input.value.trim()) this.run();
    });
    this.more.addEventListener('click', () => this.loadMore());
    $('search-close').addEventListener('click', () => this.close(true));
    this.panel.addEventListener('keydown', (e) => {
      if (e.key === 'Escape') this.close(true);
    });
    this.input.addEventListener('keydown', (e) => {
      if (e.key === 'Escape' && !this.panel.hidden) {
        e.preventDefault();
        this.close(false);
      }
    });
  }

  open() {
    this.panel.hidden = false;
    this.input.setAttribute('aria-expanded', 'true');
  }

  close(focusInput) {
    this.panel.hidden = true;
    this.input.setAttribute('aria-expanded', 'false');
    if (focusInput) this.input.focus();
  }

  /** The open conversation when the "In this conversation" box is ticked, else null. */
  scope() {
    const c = this.app.current;
    return this.here.checked && c ? c.t : null;
  }

  showError(text) {
    this.error.textContent = text || '';
    this.error.hidden = !text;
  }

  async run() {
    const q = this.input.value.trim();
    if (!q) return;
    this.q = q;
    this.terms = parseQuery(q);
    this.results = [];
    this.open();
    this.showError('');
    this.list.replaceChildren();
    this.more.hidden = true;
    this.searchLocal();
    const scope = this.scope();
    if (scope && scope.e2e) {
      // The server has only ciphertext here: nothing to ask it.
      this.status.textContent = this.localCount
        ? `${this.localCount} found in this browser`
        : 'Nothing found among the messages this browser has loaded here.';
      return;
    }
    await this.fetchPage(null);
  }

  async loadMore() {
    const last = this.results[this.results.length - 1];
    if (!last) return;
    this.more.disabled = true;
    await this.fetchPage(last.id);
    this.more.disabled = false;
  }

  async fetchPage(before) {
    const seq = ++this.seq;
    const scope = this.scope();
    const params = new URLSearchParams({ q: this.q, limit: String(PAGE) });
    if (scope) params.set('group_id', String(scope.id));
    if (before) params.set('before', String(before));
    this.status.textContent = 'Searching…';
    let page;
    try {
      page = await api('GET', `/api/search?${params}`);
    } catch (e) {
      if (seq !== this.seq) return;
      this.status.textContent = '';
      this.more.hidden = true;
      if (e.status === 404) this.showError('Search is turned off on this server.');
      else this.showError(e.message);
      return;
    }
    if (seq !== this.seq) return;
    this.results.push(...(page.results || []));
    renderList(this.list, this.results, (m) => this.item(m));
    this.more.hidden = !page.has_more;
    const n = this.results.length;
    this.status.textContent = n
      ? `${n}${page.has_more ? '+' : ''} ${n === 1 ? 'message' : 'messages'} found`
      : (this.localCount ? 'Nothing else found on the server.' : 'No messages match.');
  }

  /** Matches among the decrypted messages of the open encrypted conversation. */
  searchLocal() {
    this.localCount = 0;
    const c = this.app.current;
    const scope = this.scope();
    const usable = c && c.t.e2e && this.terms && (!scope || scope.id === c.t.id) && typeof c.searchLoaded === 'function';
    if (!usable) {
      this.localBox.hidden = true;
      this.localList.replaceChildren();
      return;
    }
    const terms = this.terms;
    let found = [];
    try {
      found = c.searchLoaded((text) => matchesAll(String(text || ''), terms)) || [];
    } catch {
      found = [];
    }
    this.localCount = found.length;
    this.localBox.hidden = false;
    $('search-local-heading').textContent = `In ${this.app.nameOf(c.t.id)}, in this browser`;
    renderList(this.localList, found, (m) => this.item({ ...m, content: m.text, group_id: c.t.id }));
    if (!found.length) this.localList.replaceChildren(h('li', { class: 'side-empty' }, 'No loaded message matches.'));
  }

  item(m) {
    const at = Number(m.created_at);
    const when = Number.isFinite(at) ? h('time', { class: 'hit-time', datetime: iso(at) }, `${dayLabel(at)} ${hms(at).slice(0, 5)}`) : null;
    return h('li', { class: 'search-item' },
      h('a', {
        class: 'search-hit',
        href: `#group-${m.group_id}`,
        dataset: { fk: `s${m.id}`, messageId: String(m.id), groupId: String(m.group_id) },
        onclick: (e) => {
          e.preventDefault();
          this.close(false);
          this.app.openAt(Number(m.group_id), Number(m.id));
        },
      },
      h('span', { class: 'hit-head' },
        h('span', { class: 'hit-where' }, this.app.nameOf(Number(m.group_id)) || 'A conversation'),
        h('span', { class: 'hit-author' }, m.author),
        when),
      h('span', { class: 'hit-text' }, excerpt(m.content, this.terms))));
  }
}
