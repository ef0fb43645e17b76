// The cryptography of one end-to-end encrypted message, and nothing else:
// sealing (encrypt, wrap the key for every device, sign) and opening
// (unwrap, decrypt) an envelope, and checking its signature. No DOM, no
// network, no state but caches of imported public keys, so that it runs
// in the E2E worker (e2e-worker.js, off the page's thread) or, where a
// browser cannot start one, in the page itself (e2e-offload.js). What a
// result means for the user (who signed, which mark to show) is the
// codec's business (e2e-codec.js). Nothing here logs plaintext or keys.

import { toB64, fromB64 } from './base64.js';

/** RSA-OAEP 2048 / SHA-256: wraps each message's AES key for one device. */
export const RSA = {
  name: 'RSA-OAEP',
  modulusLength: 2048,
  publicExponent: new Uint8Array([1, 0, 1]),
  hash: 'SHA-256',
};

/** ECDSA P-256 / SHA-256: signs each envelope (the signature is WebCrypto's raw r||s, 64 bytes). */
export const ECDSA = { name: 'ECDSA', namedCurve: 'P-256' };
export const ECDSA_SIGN = { name: 'ECDSA', hash: 'SHA-256' };

const enc = new TextEncoder();
const dec = new TextDecoder('utf-8', { fatal: true });

/** Imported public keys kept per worker (or page): spki (base64) → Promise<CryptoKey>. */
const MAX_KEYS = 5000;

function cached(map, spki, make) {
  let p = map.get(spki);
  if (!p) {
    p = make();
    p.catch(() => map.delete(spki));
    map.set(spki, p);
    if (map.size > MAX_KEYS) map.delete(map.keys().next().value);
  }
  return p;
}

const wrappers = new Map();
const verifiers = new Map();

const wrapper = (spki) => cached(wrappers, spki,
  () => crypto.subtle.importKey('spki', fromB64(spki), { name: 'RSA-OAEP', hash: 'SHA-256' }, false, ['wrapKey']));
const verifier = (spki) => cached(verifiers, spki,
  () => crypto.subtle.importKey('spki', fromB64(spki), ECDSA, false, ['verify']));

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

/** The AES-GCM additional data: binds a ciphertext to its group and author. */
export function aad(groupId, author) {
  return enc.encode(`securechat-e2e/v1\ngroup:${groupId}\nauthor:${String(author).toLowerCase()}`);
}

/**
 * Encrypts `plain` (a string) with a fresh AES-256-GCM key and IV, wraps
 * the key for every recipient (`[{fingerprint, spki}]`, RSA-OAEP) and signs
 * the result with `signKey` (a non-extractable ECDSA private key):
 * `{iv, ciphertext, keys, sig}` (the caller adds `signer`).
 */
export async function seal({ groupId, author, plain, recipients, signKey }) {
  const subtle = crypto.subtle;
  const [aes, publics] = await Promise.all([
    subtle.generateKey({ name: 'AES-GCM', length: 256 }, true, ['encrypt']),
    Promise.all(recipients.map((r) => wrapper(r.spki))),
  ]);
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const [ciphertext, ...wrapped] = await Promise.all([
    subtle.encrypt({ name: 'AES-GCM', iv, additionalData: aad(groupId, author) }, aes, enc.encode(plain)),
    ...publics.map((k) => subtle.wrapKey('raw', aes, k, { name: 'RSA-OAEP' })),
  ]);
  const keys = {};
  recipients.forEach((r, i) => { keys[r.fingerprint] = toB64(wrapped[i]); });
  const envelope = { iv: toB64(iv), ciphertext: toB64(ciphertext), keys };
  envelope.sig = toB64(await subtle.sign(ECDSA_SIGN, signKey, signedBytes(groupId, author, envelope)));
  return envelope;
}

/**
 * Opens an envelope with this device's key (`fingerprint`, `privateKey`):
 * `{plain}`, `{missing: true}` when it was not wrapped for this device, or
 * `{failed: true}` when it does not unwrap or decrypt (damaged, altered,
 * or moved to another group or author).
 */
export async function open({ groupId, author, env, fingerprint, privateKey }) {
  const wrapped = env.keys && typeof env.keys === 'object' ? env.keys[fingerprint] : undefined;
  if (typeof wrapped !== 'string') return { missing: true };
  try {
    const aes = await crypto.subtle.unwrapKey('raw', fromB64(wrapped), privateKey, { name: 'RSA-OAEP' },
      { name: 'AES-GCM', length: 256 }, false, ['decrypt']);
    const plain = await crypto.subtle.decrypt({ name: 'AES-GCM', iv: fromB64(env.iv), additionalData: aad(groupId, author) },
      aes, fromB64(env.ciphertext));
    return { plain: dec.decode(plain) };
  } catch {
    return { failed: true };
  }
}

/**
 * Whether `env.sig` is a valid signature by the signing key `spki` over the
 * envelope's canonical bytes for this group and author. `{ok}`; `{badKey:
 * true}` when `spki` is not a usable P-256 key.
 */
export async function verify({ groupId, author, env, spki }) {
  let key;
  try {
    key = await verifier(spki);
  } catch {
    return { badKey: true };
  }
  let sig;
  try {
    sig = fromB64(env.sig);
  } catch {
    return { ok: false };
  }
  if (sig.length !== 64) return { ok: false };
  return { ok: await crypto.subtle.verify(ECDSA_SIGN, key, sig, signedBytes(groupId, author, env)) };
}
