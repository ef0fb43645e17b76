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
// canonical bytes of signedBytes() below: the group, the author, the IV,
// the ciphertext and every wrapped key.
//
// Receiving: keys[this device's fingerprint] is unwrapped with the
// non-extractable private key (keys.js) and the text decrypted; the page
// shows it with textContent only. The signature is checked against the
// signing key the group's key directory lists for `signer`, which must be
// a device of the message's author (or, for a device removed since, the
// key this browser remembered for it: trust.js); a message that fails is
// shown with "Unverified". Nothing here logs plaintext or keys.

import { registerE2E } from './e2e.js';
import { hasWebCrypto, deviceKey, registerDevice, toB64, fromB64, fingerprintOf, ECDSA, ECDSA_SIGN } from './keys.js';
import { pack, unpack } from './e2e-message.js';

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
};

/**
 * The canonical bytes a signature covers (README "End-to-end encrypted
 * groups"): the UTF-8 of
 * JSON.stringify(["securechat-sig/v1", groupId, author lower-cased, iv,
 * ciphertext, [[fingerprint, wrapped], …] sorted by fingerprint]).
 */
export function signedBytes(groupId, author, env) {
  const keys = env.keys && typeof env.keys === 'object' ? env.keys : {};
  return enc.encode(JSON.stringify(['securechat-sig/v1', Number(groupId), String(author).toLowerCase(), env.iv, env.ciphertext,
    Object.keys(keys).sort().map((fp) => [fp, keys[fp]])]));
}

/** signing spki (base64) → Promise<CryptoKey> */
const verifiers = new Map();

function importVerifier(spki) {
  let p = verifiers.get(spki);
  if (!p) {
    p = crypto.subtle.importKey('spki', fromB64(spki), ECDSA, false, ['verify']);
    p.catch(() => verifiers.delete(spki));
    verifiers.set(spki, p);
    if (verifiers.size > 5000) verifiers.delete(verifiers.keys().next().value);
  }
  return p;
}

/** A cheap hash of the wrapped keys, for the decode cache (FNV-1a). */
function keysHash(keys) {
  let x = 0x811c9dc5;
  if (!keys || typeof keys !== 'object') return 0;
  for (const fp of Object.keys(keys).sort()) {
    const v = `${fp}=${keys[fp]};`;
    for (let i = 0; i < v.length; i += 1) {
      x ^= v.charCodeAt(i);
      x = Math.imul(x, 0x01000193) >>> 0;
    }
  }
  return x;
}

const enc = new TextEncoder();
const dec = new TextDecoder('utf-8', { fatal: true });

/** spki (base64) → Promise<{fingerprint, key}> */
const imported = new Map();

function importPublic(spki) {
  let p = imported.get(spki);
  if (!p) {
    p = (async () => {
      const der = fromB64(spki);
      const [fingerprint, key] = await Promise.all([
        fingerprintOf(der),
        crypto.subtle.importKey('spki', der, { name: 'RSA-OAEP', hash: 'SHA-256' }, false, ['wrapKey']),
      ]);
      return { fingerprint, key };
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
    /** [{username, fingerprint, key}] of every member device, or null before the first fetch. */
    this.directory = null;
    this.fetchedAt = 0;
    this.fetching = null;
    this.device = null;
    this.listeners = new Set();
    /** `author|iv|ciphertext` → {result} | {promise} */
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
          let imp;
          try {
            imp = await importPublic(k.public_key);
          } catch {
            continue;
          }
          // The id we wrap under is the fingerprint we computed ourselves.
          if (imp.fingerprint !== String(k.fingerprint).toLowerCase()) {
            mismatch = true;
            continue;
          }
          if (seen.has(imp.fingerprint)) continue;
          seen.add(imp.fingerprint);
          const signing = typeof k.signing_key === 'string' && k.signing_key ? k.signing_key : null;
          list.push({ username: k.username, fingerprint: imp.fingerprint, key: imp.key, signing });
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

  aad(author) {
    return enc.encode(`securechat-e2e/v1\ngroup:${this.group.id}\nauthor:${String(author).toLowerCase()}`);
  }

  cacheKey(author, env) {
    return `${String(author).toLowerCase()}|${env.iv}|${env.ciphertext}|${env.signer}|${env.sig}|${keysHash(env.keys)}`;
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
    const recipients = this.directory.slice();
    if (!recipients.some((r) => r.fingerprint === this.device.fingerprint)) {
      recipients.push({ username: this.ctx.me.username, fingerprint: this.device.fingerprint, key: this.device.publicKey });
    }
    const subtle = crypto.subtle;
    const aes = await subtle.generateKey({ name: 'AES-GCM', length: 256 }, true, ['encrypt']);
    const iv = crypto.getRandomValues(new Uint8Array(12));
    const ciphertext = await subtle.encrypt({ name: 'AES-GCM', iv, additionalData: this.aad(this.ctx.me.username) }, aes, enc.encode(pack(text, files)));
    const wrapped = await Promise.all(recipients.map((r) => subtle.wrapKey('raw', aes, r.key, { name: 'RSA-OAEP' })));
    const keys = {};
    recipients.forEach((r, i) => { keys[r.fingerprint] = toB64(wrapped[i]); });
    const envelope = { iv: toB64(iv), ciphertext: toB64(ciphertext), keys };
    if (!this.device.signPrivate) throw new Error('This browser has no signing key, so it cannot send encrypted messages.');
    const sig = await subtle.sign(ECDSA_SIGN, this.device.signPrivate, signedBytes(this.group.id, this.ctx.me.username, envelope));
    envelope.signer = this.device.fingerprint;
    envelope.sig = toB64(sig);
    if (JSON.stringify(envelope).length > MAX_ENVELOPE) {
      throw new Error(`This message is too long to encrypt for the ${recipients.length} devices in this group. Please send a shorter one.`);
    }
    this.remember(this.cacheKey(this.ctx.me.username, envelope), { result: { text, files, encrypted: false, failed: false, verified: true } });
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
    if (hit) return hit.result || hit.promise;
    const entry = {};
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
    const wrapped = env.keys && typeof env.keys === 'object' ? env.keys[dev.fingerprint] : undefined;
    if (typeof wrapped !== 'string') {
      return { text: TEXT.notForDevice, encrypted: true, failed: true, title: TEXT.notForDeviceHelp };
    }
    try {
      const aes = await crypto.subtle.unwrapKey('raw', fromB64(wrapped), dev.privateKey, { name: 'RSA-OAEP' },
        { name: 'AES-GCM', length: 256 }, false, ['decrypt']);
      const plain = await crypto.subtle.decrypt({ name: 'AES-GCM', iv: fromB64(env.iv), additionalData: this.aad(m.author) },
        aes, fromB64(env.ciphertext));
      const { text, files } = unpack(dec.decode(plain));
      return { text, files, encrypted: false, failed: false };
    } catch {
      return { text: TEXT.failed, encrypted: true, failed: true, title: TEXT.failedHelp };
    }
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
    if (!who.signing) return { verified: false, why: WHY.noKey };
    let key;
    try {
      key = await importVerifier(who.signing);
    } catch {
      return { verified: false, why: WHY.noKey };
    }
    const ok = await crypto.subtle.verify(ECDSA_SIGN, key, sig, signedBytes(this.group.id, author, env));
    return ok ? { verified: true } : { verified: false, why: WHY.bad(author) };
  }
}

registerE2E((group, ctx) => new GroupCodec(group, ctx));
