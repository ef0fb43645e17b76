// End-to-end encryption for groups created with "End-to-end encrypted":
// the codec that e2e.js plugs in with registerE2E().
//
// Sending: a fresh AES-256-GCM key and 96-bit random IV per message; the
// AES key is wrapped with RSA-OAEP (SHA-256) for every device key of every
// current member (GET /api/groups/{id}/keys), the sender's own devices
// included. The envelope is {iv, ciphertext, keys: {fingerprint: wrapped}}.
// The additional authenticated data binds the ciphertext to its group and
// author, so the server cannot move a message to another group or another
// name without it failing to decrypt.
//
// Signing: every envelope (new messages and edits) also carries
// `signer` (the sending device's fingerprint) and `sig`, an ECDSA P-256 /
// SHA-256 signature (WebCrypto's raw r||s, 64 bytes, base64) over the
// canonical bytes of signedBytes() (e2e-crypto.js): the group, the author,
// the IV, the ciphertext and every wrapped key.
//
// Receiving: keys[this device's fingerprint] is unwrapped with the
// non-extractable private key (keys.js) and the text decrypted; the page
// shows it with textContent only. The signature is checked against the
// signing key the group's key directory lists for `signer`, which must be
// a device of the message's author (or, for a device removed since, the
// key this browser remembered for it: trust.js); a message that fails is
// shown with "Unverified".
//
// The cryptography itself (seal, open, verify: e2e-crypto.js) runs in the
// E2E worker (e2e-offload.js), off the page's thread; this codec decides
// what to encrypt for whom, whose signature to expect, and what the user
// is shown. Nothing here logs plaintext or keys.

import { registerE2E } from './e2e.js';
import { hasWebCrypto, deviceKey, registerDevice, fingerprintOf } from './keys.js';
import { fromB64 } from './base64.js';
import { pack, unpack } from './e2e-message.js';
import { run } from './e2e-offload.js';

/** Re-fetch the member keys before sending when they are older than this. */
const KEYS_TTL = 10000;
/** Re-fetch them now and then while a group is open (a new device of a member). */
const KEYS_POLL = 60000;
/** The server refuses envelopes larger than this (compact JSON). */
const MAX_ENVELOPE = 64 * 1024;
const MAX_CACHE = 1000;

export const NO_WEBCRYPTO = 'End-to-end encrypted groups need HTTPS or localhost. This page is on plain HTTP, where the browser offers no encryption (WebCrypto), so messages here cannot be read or sent. Plain groups keep working.';

export const TEXT = {
  notForDevice: 'Not encrypted for this device',
  notForDeviceHelp: 'This message was sent before this browser\'s key was a member key of the group (for example before you joined, or before you first used this browser), so it cannot be read here.',
  failed: 'This message could not be decrypted',
  failedHelp: 'The encrypted message is damaged or was altered, or it was not meant for this group.',
  noCrypto: 'Encrypted message — open SecureChat over HTTPS (or on localhost) to read it',
  plaintext: 'An unencrypted message in this encrypted group was hidden',
  unverified: 'Unverified — could not confirm who sent this',
};

/** Why a message is unverified (the mark's description). */
export const WHY = {
  unsigned: 'This message has no valid signature (it was sent before messages were signed, or by another client).',
  unknown: 'It was signed by a device that is not among the group\'s keys and that this browser has never seen.',
  notAuthor: (a) => `It was signed by a device that does not belong to ${a}.`,
  noKey: 'The sending device has no signing key.',
  bad: (a) => `Its signature does not match: it was changed after it was sent, or it was not sent by ${a}.`,
  pending: (a) => `It was signed by a new key of ${a}'s that you have not accepted yet: compare fingerprints, then accept the new keys in the warning above.`,
};

/** Whether two envelopes' wrapped keys are the same (a cache hit must be the same message, keys included). */
function sameKeys(a, b) {
  if (a === b) return true;
  if (!a || !b || typeof a !== 'object' || typeof b !== 'object') return false;
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  return ka.every((fp) => Object.hasOwn(b, fp) && b[fp] === a[fp]);
}

/** spki (base64) → Promise<fingerprint>: the key checked and its fingerprint computed here. */
const imported = new Map();

function importPublic(spki) {
  let p = imported.get(spki);
  if (!p) {
    p = (async () => {
      const der = fromB64(spki);
      const [fingerprint, key] = await Promise.all([
        fingerprintOf(der),
        // (Imported only to refuse what is not an RSA-OAEP key; the
        // worker wraps with its own import.)
        crypto.subtle.importKey('spki', der, { name: 'RSA-OAEP', hash: 'SHA-256' }, false, ['wrapKey']),
      ]);
      return fingerprint;
    })();
    p.catch(() => imported.delete(spki));
    imported.set(spki, p);
  }
  return p;
}

class GroupCodec {
  constructor(group, ctx) {
    this.group = group;
    this.ctx = ctx;
    this.e2e = true;
    this.crypto = hasWebCrypto();
    this.canSend = this.crypto;
    this.reason = this.crypto ? '' : NO_WEBCRYPTO;
    /** [{username, fingerprint, spki, signing}] of every member device, or null before the first fetch. */
    this.directory = null;
    this.fetchedAt = 0;
    this.fetching = null;
    this.device = null;
    this.listeners = new Set();
    /** `author|iv|ciphertext|signer|sig` → {keys, result} | {keys, promise} */
    this.cache = new Map();
    this.timer = null;
    this.poll = null;
    this.lastHint = 0;
    this.closed = false;
    this.warnedMismatch = false;
    /** Signers we fetched the keys again for (verify()). */
    this.askedFor = new Set();
  }

  /** Loads this device's key (registering it) and the members' keys. */
  async ready() {
    if (!this.crypto) return;
    try {
      this.device = await registerDevice(this.ctx.me);
    } catch (e) {
      // Without a registered key nobody can encrypt to this device; reading
      // may still work when the key itself exists.
      this.device = await deviceKey(this.ctx.me).catch(() => null);
      if (!this.device) {
        this.canSend = false;
        this.reason = e.message || 'This browser could not set up its encryption key.';
        throw e;
      }
      this.ctx.alert?.(`This device's encryption key could not be registered: ${e.message || 'error'}`);
    }
    if (this.closed) return;
    await this.refresh();
    if (this.closed) return;
    this.poll = setInterval(() => {
      if (!document.hidden) this.refresh().catch(() => {});
    }, KEYS_POLL);
  }

  close() {
    this.closed = true;
    clearTimeout(this.timer);
    clearInterval(this.poll);
    this.listeners.clear();
  }

  /**
   * What this browser trusts changed (keys accepted, a change noticed):
   * results not verified may verify now, so they are worked out again.
   */
  forgetUnverified() {
    for (const [k, e] of [...this.cache]) {
      if (!e.result || !e.result.verified) this.cache.delete(k);
    }
  }

  /** Calls `fn` whenever the member keys were fetched again. */
  onChange(fn) {
    this.listeners.add(fn);
  }

  get myFingerprint() {
    return this.device ? this.device.fingerprint : null;
  }

  /** Map username → [fingerprint] of the current member devices (null before the first fetch). */
  keysByUser() {
    if (!this.directory) return null;
    const by = new Map();
    for (const k of this.directory) {
      if (!by.has(k.username)) by.set(k.username, []);
      by.get(k.username).push(k.fingerprint);
    }
    return by;
  }

  /** Map fingerprint → signing key (base64 SPKI or null) of the current member devices. */
  signingKeys() {
    return new Map((this.directory || []).map((k) => [k.fingerprint, k.signing]));
  }

  /** Fetches the members' device keys (one request at a time). */
  refresh() {
    if (!this.crypto) return Promise.resolve();
    if (this.fetching) return this.fetching;
    this.fetching = (async () => {
      try {
        const data = await this.ctx.api('GET', `/api/groups/${this.group.id}/keys`);
        const list = [];
        const seen = new Set();
        let mismatch = false;
        for (const k of (data && Array.isArray(data.keys) ? data.keys : [])) {
          if (!k || typeof k.public_key !== 'string' || typeof k.username !== 'string') continue;
          let fingerprint;
          try {
            fingerprint = await importPublic(k.public_key);
          } catch {
            continue;
          }
          // The id we wrap under is the fingerprint we computed ourselves.
          if (fingerprint !== String(k.fingerprint).toLowerCase()) {
            mismatch = true;
            continue;
          }
          if (seen.has(fingerprint)) continue;
          seen.add(fingerprint);
          const signing = typeof k.signing_key === 'string' && k.signing_key ? k.signing_key : null;
          list.push({ username: k.username, fingerprint, spki: k.public_key, signing });
        }
        if (this.closed) return;
        if (mismatch && !this.warnedMismatch) {
          this.warnedMismatch = true;
          this.ctx.alert?.('The server sent a member key whose fingerprint does not match it; that key was ignored.');
        }
        this.directory = list;
        this.byFingerprint = new Map(list.map((k) => [k.fingerprint, k]));
        this.fetchedAt = Date.now();
        if (this.ctx.trust) this.ctx.trust.observe(this.keysByUser(), this.myFingerprint, this.signingKeys());
        for (const fn of this.listeners) fn();
      } finally {
        this.fetching = null;
      }
    })();
    return this.fetching;
  }

  /** Re-fetches the keys shortly (presence changed, someone joined). */
  refreshSoon(delay = 200) {
    if (!this.crypto || this.closed) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.refresh().catch(() => {}), delay);
  }

  /**
   * A live message: if it was wrapped for devices we do not know (a member's
   * new device, a new member), our key list is stale.
   */
  observe(m) {
    if (!this.directory || !m || !m.envelope || !m.envelope.keys || typeof m.envelope.keys !== 'object') return;
    const known = new Set(this.directory.map((k) => k.fingerprint));
    const unknown = Object.keys(m.envelope.keys).some((f) => !known.has(f));
    if (unknown && Date.now() - this.lastHint > 3000) {
      this.lastHint = Date.now();
      this.refreshSoon(50);
    }
  }

  cacheKey(author, env) {
    return `${String(author).toLowerCase()}|${env.iv}|${env.ciphertext}|${env.signer}|${env.sig}`;
  }

  remember(key, entry) {
    this.cache.set(key, entry);
    if (this.cache.size > MAX_CACHE) this.cache.delete(this.cache.keys().next().value);
  }

  /**
   * Encrypts `text` (and the keys of its attached `files`, see
   * e2e-message.js) for every current member device: `{envelope}`.
   */
  async encode(text, { files = [] } = {}) {
    if (!this.canSend) throw new Error(this.reason);
    // (Memoized: the same device unless the server said it was removed and
    // a new one was registered.)
    this.device = await registerDevice(this.ctx.me);
    if (!this.directory || Date.now() - this.fetchedAt > KEYS_TTL) {
      try {
        await this.refresh();
      } catch (e) {
        // Offline: encrypt for the keys we know; the outbox sends it later.
        if (!this.directory) throw new Error(`The group's encryption keys could not be loaded: ${e.message || 'error'}`);
      }
    }
    if (!this.device.signPrivate) throw new Error('This browser has no signing key, so it cannot send encrypted messages.');
    const recipients = this.directory.map((r) => ({ fingerprint: r.fingerprint, spki: r.spki }));
    if (!recipients.some((r) => r.fingerprint === this.device.fingerprint)) {
      recipients.push({ fingerprint: this.device.fingerprint, spki: this.device.spki });
    }
    const sealed = await run('seal', {
      groupId: Number(this.group.id), author: this.ctx.me.username, plain: pack(text, files), recipients, signKey: this.device.signPrivate,
    });
    const envelope = { iv: sealed.iv, ciphertext: sealed.ciphertext, keys: sealed.keys, signer: this.device.fingerprint, sig: sealed.sig };
    if (JSON.stringify(envelope).length > MAX_ENVELOPE) {
      throw new Error(`This message is too long to encrypt for the ${recipients.length} devices in this group. Please send a shorter one.`);
    }
    this.remember(this.cacheKey(this.ctx.me.username, envelope),
      { keys: envelope.keys, result: { text, files, encrypted: false, failed: false, verified: true } });
    return { envelope };
  }

  /** `{text, files, encrypted, failed, title}`, synchronously when already decrypted. */
  decode(m) {
    const env = m && m.envelope;
    if (!env || typeof env !== 'object' || typeof env.iv !== 'string' || typeof env.ciphertext !== 'string') {
      // The server refuses plaintext in encrypted groups: a message without
      // an envelope here did not come from a member's client.
      const unverified = { unverified: TEXT.unverified, unverifiedWhy: WHY.unsigned, verified: false };
      return typeof m.content === 'string'
        ? { text: TEXT.plaintext, encrypted: true, failed: true, icon: 'alert', title: 'The server accepts only encrypted messages here, so this one did not come from a member\'s client.', ...unverified }
        : { text: TEXT.failed, encrypted: true, failed: true, title: TEXT.failedHelp, ...unverified };
    }
    if (!this.crypto) return { text: TEXT.noCrypto, encrypted: true, failed: true, title: NO_WEBCRYPTO };
    const key = this.cacheKey(m.author, env);
    const hit = this.cache.get(key);
    if (hit && sameKeys(hit.keys, env.keys)) return hit.result || hit.promise;
    const entry = { keys: env.keys };
    entry.promise = this.decrypt(m, env).then((result) => {
      entry.result = result;
      return result;
    });
    this.remember(key, entry);
    return entry.promise;
  }

  async decrypt(m, env) {
    const [plain, check] = await Promise.all([this.open(m, env), this.verify(m, env).catch(() => ({ verified: false, why: WHY.unsigned }))]);
    if (check.verified) return { ...plain, verified: true };
    return { ...plain, verified: false, unverified: TEXT.unverified, unverifiedWhy: check.why };
  }

  async open(m, env) {
    let dev;
    try {
      dev = this.device || await deviceKey(this.ctx.me);
    } catch {
      return { text: TEXT.failed, encrypted: true, failed: true, title: 'This browser has no usable encryption key.' };
    }
    // Only this device's wrapped key goes to the worker (the others are
    // needed for the signature alone).
    const mine = env.keys && typeof env.keys === 'object' && Object.hasOwn(env.keys, dev.fingerprint) ? env.keys[dev.fingerprint] : undefined;
    if (typeof mine !== 'string') return { text: TEXT.notForDevice, encrypted: true, failed: true, title: TEXT.notForDeviceHelp };
    const r = await run('open', {
      groupId: Number(this.group.id), author: String(m.author), env: { iv: env.iv, ciphertext: env.ciphertext, keys: { [dev.fingerprint]: mine } },
      fingerprint: dev.fingerprint, privateKey: dev.privateKey,
    }).catch(() => ({ failed: true }));
    if (r.missing) return { text: TEXT.notForDevice, encrypted: true, failed: true, title: TEXT.notForDeviceHelp };
    if (typeof r.plain !== 'string') return { text: TEXT.failed, encrypted: true, failed: true, title: TEXT.failedHelp };
    const { text, files } = unpack(r.plain);
    return { text, files, encrypted: false, failed: false };
  }

  /** The signing key (base64 SPKI) of device `fp` and whose it is: the directory's, else the one remembered. */
  signerOf(fp) {
    const k = this.byFingerprint && this.byFingerprint.get(fp);
    if (k) return { username: k.username, signing: k.signing };
    const r = this.ctx.trust && this.ctx.trust.rememberedSigner ? this.ctx.trust.rememberedSigner(fp) : null;
    return r ? { username: r.username, signing: r.signing } : null;
  }

  /** `{verified, why}`: whether the envelope's signature is the author's. */
  async verify(m, env) {
    const author = String(m.author || '');
    const signer = typeof env.signer === 'string' ? env.signer.toLowerCase() : '';
    if (!/^[0-9a-f]{64}$/u.test(signer) || typeof env.sig !== 'string') return { verified: false, why: WHY.unsigned };
    let sig;
    try {
      sig = fromB64(env.sig);
    } catch {
      return { verified: false, why: WHY.unsigned };
    }
    if (sig.length !== 64) return { verified: false, why: WHY.unsigned };
    let who = this.signerOf(signer);
    const missing = (w) => !w || (w.username.toLowerCase() === author.toLowerCase() && !w.signing);
    if (missing(who)) {
      // A device we have not heard of yet (or whose signing key is new):
      // the keys being fetched may have it; else ask once more for it (a
      // few dozen such devices at most, so forged signers cannot make us
      // fetch forever).
      if (this.fetching) await this.fetching.catch(() => {});
      who = this.signerOf(signer);
      if (missing(who) && !this.askedFor.has(signer) && this.askedFor.size < 50) {
        this.askedFor.add(signer);
        await this.refresh().catch(() => {});
        if (this.fetching) await this.fetching.catch(() => {});
        who = this.signerOf(signer);
      }
    }
    if (!who) return { verified: false, why: WHY.unknown };
    if (who.username.toLowerCase() !== author.toLowerCase()) return { verified: false, why: WHY.notAuthor(author) };
    // The key to check against is the one this browser trusts for the
    // device (first seen, or accepted), not a newer one the server lists
    // now; a device or key still waiting in a key-change warning verifies
    // nothing until the user accepts it.
    const trusted = this.ctx.trust && this.ctx.trust.signerState ? this.ctx.trust.signerState(signer, author) : null;
    if (trusted && trusted.pending) return { verified: false, why: WHY.pending(author) };
    if (trusted && trusted.username.toLowerCase() !== author.toLowerCase()) return { verified: false, why: WHY.notAuthor(author) };
    const spki = (trusted && trusted.signing) || who.signing;
    if (!spki) return { verified: false, why: WHY.noKey };
    const r = await run('verify', {
      groupId: Number(this.group.id), author,
      // (The fields the signature covers: what came from the server may carry more.)
      env: { iv: env.iv, ciphertext: env.ciphertext, keys: env.keys, sig: env.sig },
      spki,
    });
    if (r.badKey) return { verified: false, why: WHY.noKey };
    return r.ok ? { verified: true } : { verified: false, why: WHY.bad(author) };
  }
}

registerE2E((group, ctx) => new GroupCodec(group, ctx));
