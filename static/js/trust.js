// Trust on first use for device keys. Per logged-in user, this browser
// remembers (localStorage) the set of key fingerprints it has seen for
// every other user. The first set seen for a user is trusted silently; when
// a known user's set changes later (a device added or removed — or keys
// slipped in by the server), a `role="alert"` warning names the user until
// someone acknowledges it, which remembers the new set.
//
// Each device's signing key is remembered the same way (first seen,
// trusted): a known device whose signing key changes counts as a key
// change too. (A device first seen without one, from before signatures,
// may get one silently: that is its first signing key.) The remembered
// keys also verify messages of devices removed since (rememberedSigner).

import { h, icon } from './dom.js';
import { groupFingerprint } from './keys.js';

const PREFIX = 'securechat.e2e.known.';

const sameSet = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);

export class KeyTrust {
  /**
   * @param me        {id, username} of the logged-in user
   * @param container element that holds the warnings
   */
  constructor(me, container) {
    this.me = me;
    this.storageKey = `${PREFIX}${me.id}`;
    /** The parsed storage (load()), null until read or after another tab changed it. */
    this.memo = null;
    this.container = container;
    /** lower-case username → {username, added, removed, current, self} */
    this.changes = new Map();
    /** lower-case username → rendered warning */
    this.shown = new Map();
    window.addEventListener('storage', (e) => {
      // Acknowledged in another tab: forget warnings that no longer apply.
      if (e.key !== this.storageKey) return;
      this.memo = null;
      const known = this.load();
      for (const [k, c] of [...this.changes]) {
        if (known[k] && sameSet(known[k].fps, c.current)) this.changes.delete(k);
      }
      this.render();
    });
  }

  load() {
    // (Parsed once per change: every signature check reads it.)
    if (this.memo) return this.memo;
    try {
      const v = JSON.parse(localStorage.getItem(this.storageKey) || '{}');
      this.memo = v && typeof v === 'object' ? v : {};
    } catch {
      this.memo = {};
    }
    return this.memo;
  }

  save(known) {
    this.memo = known;
    try {
      localStorage.setItem(this.storageKey, JSON.stringify(known));
    } catch {
      /* storage blocked: trust lasts for this page only */
    }
  }

  /**
   * Compares the keys of a group's members (`Map username → [fingerprint]`)
   * with what this browser remembers. `ownFingerprint`: this device's key,
   * which is never news for its own account.
   */
  observe(byUser, ownFingerprint, signers = new Map()) {
    const known = this.load();
    let dirty = false;
    let changed = false;
    const meLower = this.me.username.toLowerCase();
    const sigOf = (fps) => {
      const out = {};
      for (const f of fps) if (signers.get(f)) out[f] = signers.get(f);
      return out;
    };
    for (const [username, fps] of byUser) {
      const k = username.toLowerCase();
      const current = [...new Set(fps)].sort();
      const self = k === meLower;
      let prev = known[k];
      if (!prev || !Array.isArray(prev.fps)) {
        known[k] = { username, fps: current, sig: sigOf(current) };
        dirty = true;
        if (this.changes.delete(k)) changed = true;
        continue;
      }
      const prevSig = prev.sig && typeof prev.sig === 'object' ? prev.sig : {};
      // This device's own first signing key is no news. Any other known
      // device's first one is a key change like any other: the server
      // takes a device's first signing key from whoever holds the session,
      // so only the user can vouch for it. (Keys of devices that are gone
      // stay remembered, for rememberedSigner.)
      const currentSig = sigOf(current);
      for (const [f, key] of Object.entries(currentSig)) {
        if (!prevSig[f] && self && f === ownFingerprint && prev.fps.includes(f)) {
          prevSig[f] = key;
          prev.sig = prevSig;
          dirty = true;
        }
      }
      if (self && ownFingerprint && current.includes(ownFingerprint) && !prev.fps.includes(ownFingerprint)) {
        prev = { username, fps: [...prev.fps, ownFingerprint].sort(), sig: { ...prevSig, ...(currentSig[ownFingerprint] ? { [ownFingerprint]: currentSig[ownFingerprint] } : {}) } };
        known[k] = prev;
        dirty = true;
      }
      const resigned = current.filter((f) => prev.fps.includes(f) && currentSig[f] && prevSig[f] !== currentSig[f]);
      if (sameSet(prev.fps, current) && !resigned.length) {
        if (this.changes.delete(k)) changed = true;
        continue;
      }
      const next = {
        username,
        self,
        current,
        sig: currentSig,
        resigned,
        added: current.filter((f) => !prev.fps.includes(f)),
        removed: prev.fps.filter((f) => !current.includes(f)),
      };
      const old = this.changes.get(k);
      if (!old || signature(old) !== signature(next)) {
        this.changes.set(k, next);
        changed = true;
      }
    }
    if (dirty) this.save(known);
    if (changed) this.render();
  }

  /** Remembers a user's current keys and drops the warning. */
  accept(k) {
    const c = this.changes.get(k);
    if (!c) return;
    const known = this.load();
    // Signing keys of devices that are gone stay remembered: they still verify their old messages.
    const kept = known[k] && known[k].sig && typeof known[k].sig === 'object' ? known[k].sig : {};
    known[k] = { username: c.username, fps: c.current, sig: { ...kept, ...c.sig } };
    this.save(known);
    this.changes.delete(k);
    this.render();
  }

  /**
   * The signing key this browser remembered for device `fp`
   * (`{username, signing}`), or null: it verifies messages of a device
   * that has been removed since.
   */
  rememberedSigner(fp) {
    const known = this.load();
    for (const v of Object.values(known)) {
      if (v && v.sig && typeof v.sig === 'object' && typeof v.sig[fp] === 'string' && typeof v.username === 'string') {
        return { username: v.username, signing: v.sig[fp] };
      }
    }
    return null;
  }

  /**
   * What this browser trusts for device `fp` of `username`, to check a
   * message's signature against: `{pending: true}` while a key change of
   * that user naming this device (new, or with a new signing key) waits to
   * be accepted; else the remembered `{username, signing}` (first seen, or
   * accepted) — never a newer key the server lists now; null for a device
   * this browser has never heard of.
   */
  signerState(fp, username) {
    const c = this.changes.get(String(username).toLowerCase());
    if (c && (c.added.includes(fp) || (c.resigned || []).includes(fp))) return { pending: true };
    return this.rememberedSigner(fp);
  }

  /** Whether a warning about `username` is waiting. */
  pending(username) {
    return this.changes.has(String(username).toLowerCase());
  }

  render() {
    for (const [k, el] of [...this.shown]) {
      const c = this.changes.get(k);
      if (!c || el.dataset.sig !== signature(c)) {
        el.remove();
        this.shown.delete(k);
      }
    }
    for (const [k, c] of this.changes) {
      if (this.shown.has(k)) continue;
      const el = this.warning(k, c);
      this.shown.set(k, el);
      this.container.append(el);
    }
    this.container.hidden = this.shown.size === 0;
    if (this.onChange) this.onChange();
  }

  warning(k, c) {
    const id = `key-alert-${k.replace(/[^a-z0-9_-]/gu, '_')}`;
    const title = c.self
      ? `Your own encryption keys changed (${c.username}) — if you did not just log in on another device or browser, change your password.`
      : `${c.username}'s encryption keys changed — compare fingerprints before trusting new messages.`;
    const rows = [
      ...c.added.map((f) => h('li', {}, h('span', { class: 'fp-tag added' }, 'New'), ' ', h('code', { class: 'fp' }, groupFingerprint(f)))),
      ...c.removed.map((f) => h('li', {}, h('span', { class: 'fp-tag removed' }, 'Removed'), ' ', h('code', { class: 'fp' }, groupFingerprint(f)))),
      ...(c.resigned || []).map((f) => h('li', {}, h('span', { class: 'fp-tag added' }, 'New signing key'), ' ', h('code', { class: 'fp' }, groupFingerprint(f)))),
    ];
    const accept = h('button', {
      type: 'button',
      class: 'small',
      'aria-describedby': `${id}-text`,
      onclick: () => this.accept(k),
    }, 'Accept new keys');
    return h('div', { class: 'key-alert', role: 'alert', id, dataset: { sig: signature(c), user: c.username } },
      icon('alert', { size: 18 }),
      h('div', { class: 'key-alert-body' },
        h('p', { class: 'key-alert-text', id: `${id}-text` }, title),
        h('p', { class: 'key-alert-help' }, c.self
          ? 'Messages in encrypted groups are now also encrypted for the new key.'
          : `Ask ${c.username} in person or on a call to read out their fingerprints from their own "In this group" list and check they match.`),
        rows.length ? h('ul', { class: 'fp-changes' }, rows) : null),
      accept);
  }
}

function signature(c) {
  return `${c.current.join(',')}|${(c.resigned || []).map((f) => `${f}:${c.sig[f]}`).join(',')}`;
}
