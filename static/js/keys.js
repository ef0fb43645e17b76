// This browser's device key for end-to-end encrypted groups, fingerprints
// and base64. The private key is generated non-extractable and lives in
// IndexedDB (one key per account per browser); only the public key (SPKI)
// ever leaves the page, through `PUT /api/keys`. Nothing here logs keys.

import { api } from './api.js';

/** RSA-OAEP 2048 / SHA-256: wraps each message's AES key for one device. */
export const RSA = {
  name: 'RSA-OAEP',
  modulusLength: 2048,
  publicExponent: new Uint8Array([1, 0, 1]),
  hash: 'SHA-256',
};

/**
 * Whether the browser offers WebCrypto. It only does on secure pages
 * (HTTPS, or http://localhost): on plain HTTP elsewhere `crypto.subtle` is
 * undefined and end-to-end encrypted groups cannot work.
 */
export function hasWebCrypto() {
  return typeof crypto !== 'undefined' && !!crypto.subtle;
}

// ---------------------------------------------------------------- base64

export function toB64(data) {
  const bytes = data instanceof Uint8Array ? data : new Uint8Array(data);
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

/** Decodes standard or URL-safe base64; throws on anything else. */
export function fromB64(s) {
  if (typeof s !== 'string') throw new TypeError('not base64');
  let t = s.replace(/-/g, '+').replace(/_/g, '/').replace(/=+$/u, '');
  t += '='.repeat((4 - (t.length % 4)) % 4);
  const bin = atob(t);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i += 1) out[i] = bin.charCodeAt(i);
  return out;
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

function usable(rec) {
  return !!rec && rec.privateKey instanceof CryptoKey && rec.publicKey instanceof CryptoKey
    && typeof rec.spki === 'string' && /^[0-9a-f]{64}$/u.test(rec.fingerprint || '');
}

async function loadOrCreate(me) {
  if (typeof indexedDB === 'undefined') throw new Error('IndexedDB is not available');
  const db = await openDb();
  try {
    const id = `user-${me.id}`;
    let rec = await tx(db, 'readonly', (s) => s.get(id));
    if (usable(rec)) return rec;
    const stale = rec !== undefined;
    // Non-extractable: the private key can be used by this page but never
    // exported, not even by our own code. (A key pair's public half is
    // always extractable.)
    const pair = await crypto.subtle.generateKey(RSA, false, ['wrapKey', 'unwrapKey']);
    const spki = new Uint8Array(await crypto.subtle.exportKey('spki', pair.publicKey));
    const fresh = {
      privateKey: pair.privateKey,
      publicKey: pair.publicKey,
      spki: toB64(spki),
      fingerprint: await fingerprintOf(spki),
      username: me.username,
      createdAt: Date.now(),
    };
    try {
      // add() fails if another tab stored a key meanwhile: then use that one.
      await tx(db, 'readwrite', (s) => (stale ? s.put(fresh, id) : s.add(fresh, id)));
      rec = fresh;
    } catch (e) {
      rec = await tx(db, 'readonly', (s) => s.get(id));
      if (!usable(rec)) throw e;
    }
    return rec;
  } finally {
    db.close();
  }
}

const devices = new Map();

/**
 * This browser's key for the logged-in user (`{id, username}`):
 * `{privateKey, publicKey, spki, fingerprint}`, created on first use.
 */
export function deviceKey(me) {
  if (!hasWebCrypto()) return Promise.reject(new Error('WebCrypto is not available on this page.'));
  let p = devices.get(me.id);
  if (!p) {
    p = loadOrCreate(me).catch((e) => {
      devices.delete(me.id);
      throw new Error(`This browser could not create or store its encryption key (${e && e.name ? e.name : 'error'}).`);
    });
    devices.set(me.id, p);
  }
  return p;
}

const registrations = new Map();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Registers this device's public key with the server (idempotent; done on
 * every page load so a device stays among the account's newest keys).
 * Resolves to the device key; a failure is retried on the next call.
 */
export function registerDevice(me) {
  let p = registrations.get(me.id);
  if (!p) {
    p = (async () => {
      const dev = await deviceKey(me);
      for (let attempt = 0; ; attempt += 1) {
        try {
          const r = await api('PUT', '/api/keys', { public_key: dev.spki });
          if (!r || r.fingerprint !== dev.fingerprint) {
            throw new Error('The server answered with a different fingerprint for this device key.');
          }
          return dev;
        } catch (e) {
          if (e.status === 429 && attempt < 5) {
            await sleep(Math.max(1, Number(e.retryAfter) || 1) * 1000);
            continue;
          }
          throw e;
        }
      }
    })();
    p.catch(() => registrations.delete(me.id));
    registrations.set(me.id, p);
  }
  return p;
}
