// This browser's device keys for end-to-end encrypted groups, and
// fingerprints. A device has two key pairs: RSA-OAEP (the message keys are
// wrapped for it) and ECDSA P-256 (it signs every envelope it sends). Both
// private keys are generated non-extractable and live in IndexedDB (one
// device per account per browser); only the public keys (SPKI) ever leave
// the page, through `PUT /api/keys`. The device's fingerprint is that of its
// RSA key. Nothing here logs keys.

import { api } from './api.js';
import { toB64 } from './base64.js';
import { RSA, ECDSA } from './e2e-crypto.js';

/** What the user is told when the server said this browser's key was removed from the account. */
export const REPLACED_TEXT = 'This browser\'s old key was removed from your account; it now has a new key. Messages sent to the old key cannot be read here any more.';

/**
 * Whether the browser offers WebCrypto. It only does on secure pages
 * (HTTPS, or http://localhost): on plain HTTP elsewhere `crypto.subtle` is
 * undefined and end-to-end encrypted groups cannot work.
 */
export function hasWebCrypto() {
  return typeof crypto !== 'undefined' && !!crypto.subtle;
}

// ----------------------------------------------------------- fingerprints

/** SHA-256 of the SPKI DER bytes as 64 lowercase hex: the server's fingerprint. */
export async function fingerprintOf(spki) {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', spki));
  return [...digest].map((b) => b.toString(16).padStart(2, '0')).join('');
}

/** `a1b2 c3d4 …`: a fingerprint in groups of four for people to compare. */
export function groupFingerprint(hex) {
  return String(hex).match(/.{1,4}/gu).join(' ');
}

// -------------------------------------------------------------- IndexedDB

const DB_NAME = 'securechat-e2e';
const STORE = 'device-keys';

function request(req) {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

function openDb() {
  const req = indexedDB.open(DB_NAME, 1);
  req.onupgradeneeded = () => {
    if (!req.result.objectStoreNames.contains(STORE)) req.result.createObjectStore(STORE);
  };
  return request(req);
}

function tx(db, mode, fn) {
  return new Promise((resolve, reject) => {
    const t = db.transaction(STORE, mode);
    let result;
    request(fn(t.objectStore(STORE))).then((r) => { result = r; }, () => {});
    t.oncomplete = () => resolve(result);
    t.onerror = () => reject(t.error);
    t.onabort = () => reject(t.error || new Error('IndexedDB transaction aborted'));
  });
}

/**
 * In one readwrite transaction: reads record `id`, stores `pick(stored)`
 * unless that is the stored record itself; resolves to what is stored.
 */
function swap(db, id, pick) {
  return new Promise((resolve, reject) => {
    const t = db.transaction(STORE, 'readwrite');
    const s = t.objectStore(STORE);
    let out;
    const get = s.get(id);
    get.onsuccess = () => {
      out = pick(get.result);
      if (out !== get.result) s.put(out, id);
    };
    t.oncomplete = () => resolve(out);
    t.onerror = () => reject(t.error);
    t.onabort = () => reject(t.error || new Error('IndexedDB transaction aborted'));
  });
}

function usable(rec) {
  return !!rec && rec.privateKey instanceof CryptoKey && rec.publicKey instanceof CryptoKey
    && typeof rec.spki === 'string' && /^[0-9a-f]{64}$/u.test(rec.fingerprint || '');
}

function canSign(rec) {
  return rec.signPrivate instanceof CryptoKey && rec.signPublic instanceof CryptoKey && typeof rec.signSpki === 'string';
}

/** A new signing key pair: `{signPrivate, signPublic, signSpki}` (the private half non-extractable). */
async function newSigningKey() {
  const pair = await crypto.subtle.generateKey(ECDSA, false, ['sign', 'verify']);
  const spki = new Uint8Array(await crypto.subtle.exportKey('spki', pair.publicKey));
  return { signPrivate: pair.privateKey, signPublic: pair.publicKey, signSpki: toB64(spki) };
}

/** A whole new device: both key pairs. */
async function newDevice(me) {
  // Non-extractable: the private key can be used by this page but never
  // exported, not even by our own code. (A key pair's public half is
  // always extractable.)
  const pair = await crypto.subtle.generateKey(RSA, false, ['wrapKey', 'unwrapKey']);
  const spki = new Uint8Array(await crypto.subtle.exportKey('spki', pair.publicKey));
  return {
    privateKey: pair.privateKey,
    publicKey: pair.publicKey,
    spki: toB64(spki),
    fingerprint: await fingerprintOf(spki),
    ...(await newSigningKey()),
    username: me.username,
    createdAt: Date.now(),
  };
}

async function loadOrCreate(me, { replace = null } = {}) {
  if (typeof indexedDB === 'undefined') throw new Error('IndexedDB is not available');
  const db = await openDb();
  try {
    const id = `user-${me.id}`;
    let rec = await tx(db, 'readonly', (s) => s.get(id));
    // `replace`: the fingerprint the server said was removed. Another tab
    // may have replaced it already: then use that one.
    if (usable(rec) && rec.fingerprint !== replace) {
      if (canSign(rec)) return rec;
      // A device from before signatures: it gets a signing key now (and
      // registers both keys). Another tab may make one at the same time:
      // the first stored wins (read and written in one transaction), and
      // every tab uses and registers that one — the server keeps a
      // device's first signing key and refuses any other.
      const signing = await newSigningKey();
      return swap(db, id, (stored) => (usable(stored) && stored.fingerprint === rec.fingerprint && canSign(stored)
        ? stored
        : { ...rec, ...signing }));
    }
    const stale = rec !== undefined;
    const fresh = await newDevice(me);
    try {
      // add() fails if another tab stored a key meanwhile: then use that one.
      await tx(db, 'readwrite', (s) => (stale ? s.put(fresh, id) : s.add(fresh, id)));
      rec = fresh;
    } catch (e) {
      rec = await tx(db, 'readonly', (s) => s.get(id));
      if (!usable(rec) || !canSign(rec) || rec.fingerprint === replace) throw e;
    }
    return rec;
  } finally {
    db.close();
  }
}

const devices = new Map();

/** This browser's stored device for `me`, without making one: the record or null. */
export async function peekDevice(me) {
  if (!hasWebCrypto() || typeof indexedDB === 'undefined') return null;
  const db = await openDb();
  try {
    const rec = await tx(db, 'readonly', (s) => s.get(`user-${me.id}`));
    return usable(rec) ? rec : null;
  } finally {
    db.close();
  }
}

/**
 * This browser's key for the logged-in user (`{id, username}`):
 * `{privateKey, publicKey, spki, fingerprint, signPrivate, signPublic,
 * signSpki}`, created on first use.
 */
export function deviceKey(me, { replace = null } = {}) {
  if (!hasWebCrypto()) return Promise.reject(new Error('WebCrypto is not available on this page.'));
  let p = replace ? null : devices.get(me.id);
  if (!p) {
    p = loadOrCreate(me, { replace }).catch((e) => {
      devices.delete(me.id);
      throw new Error(`This browser could not create or store its encryption key (${e && e.name ? e.name : 'error'}).`);
    });
    devices.set(me.id, p);
  }
  return p;
}

const registrations = new Map();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function put(dev) {
  for (let attempt = 0; ; attempt += 1) {
    try {
      const r = await api('PUT', '/api/keys', { public_key: dev.spki, signing_key: dev.signSpki });
      if (!r || r.fingerprint !== dev.fingerprint) {
        throw new Error('The server answered with a different fingerprint for this device key.');
      }
      return;
    } catch (e) {
      if (e.status === 429 && attempt < 5) {
        await sleep(Math.max(1, Number(e.retryAfter) || 1) * 1000);
        continue;
      }
      throw e;
    }
  }
}

/**
 * Registers this device's public keys with the server (idempotent; done on
 * every page load so a device stays among the account's newest keys).
 * When the server says this device was removed from the account (409
 * `device_removed`), a new device (both key pairs) replaces it in
 * IndexedDB and is registered instead; `onReplaced` listeners hear of it.
 * Resolves to the device key; a failure is retried on the next call.
 * `{again: true}`: register once more even if this page did already (our
 * own keys changed: this device may have been removed meanwhile).
 */
export function registerDevice(me, { again = false } = {}) {
  let p = again ? null : registrations.get(me.id);
  if (!p) {
    const before = registrations.get(me.id);
    p = (async () => {
      if (before) await before.catch(() => {});
      let dev = await deviceKey(me);
      try {
        await put(dev);
      } catch (e) {
        if (e.status !== 409 || e.code !== 'device_removed') throw e;
        const old = dev.fingerprint;
        dev = await deviceKey(me, { replace: old });
        await put(dev);
        for (const fn of replacedListeners) {
          try {
            fn(dev, old);
          } catch {
            /* a listener's problem */
          }
        }
      }
      return dev;
    })();
    p.catch(() => {
      if (registrations.get(me.id) === p) registrations.delete(me.id);
    });
    registrations.set(me.id, p);
  }
  return p;
}

const replacedListeners = new Set();

/** Calls `fn(newDevice, oldFingerprint)` when this browser had to make a new device key. */
export function onReplaced(fn) {
  replacedListeners.add(fn);
}
