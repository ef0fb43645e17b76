// End-to-end encryption of files, for encrypted groups: the server must only
// ever hold ciphertext, so a file is encrypted here before its upload and
// decrypted here after its download.
//
// Each file gets its own fresh AES-256-GCM key and 96-bit random IV; the
// ciphertext (with its 16-byte tag) is uploaded as application/octet-stream
// under the neutral name "encrypted". The key, the IV and what the file is
// (name, type, size, an image's pixel size, measured here before it is
// encrypted) travel only inside the message's encrypted plaintext (see
// e2e-message.js), never in the envelope: the server validates that and
// allows no extra fields. Nothing here logs keys or plaintext.

import { toB64, fromB64 } from './base64.js';

/** Authenticated data of every file: a file's bytes cannot pass for a message's. */
const AAD = new TextEncoder().encode('securechat-file/v1');
/** The GCM tag: the ciphertext is this much longer than the file. */
export const OVERHEAD = 16;
/** Raster types a decrypted file may be shown inline as (never SVG: it can carry script). */
export const INLINE_TYPES = new Set(['image/png', 'image/jpeg', 'image/gif', 'image/webp']);

/** An image's pixel size, or null (not an image we show inline, or not decodable). */
export async function measureImage(file) {
  if (!INLINE_TYPES.has(file.type) || typeof createImageBitmap !== 'function') return null;
  try {
    const bitmap = await createImageBitmap(file);
    const size = { width: bitmap.width, height: bitmap.height };
    bitmap.close();
    return size.width > 0 && size.height > 0 ? size : null;
  } catch {
    return null;
  }
}

/**
 * Encrypts a File: {blob (the ciphertext), meta: {key, iv, name, type, size,
 * width, height}} — `meta` gains the file `id` after the upload.
 */
export async function encryptFile(file) {
  const dims = await measureImage(file);
  const key = await crypto.subtle.generateKey({ name: 'AES-GCM', length: 256 }, true, ['encrypt']);
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const plain = await file.arrayBuffer();
  const cipher = await crypto.subtle.encrypt({ name: 'AES-GCM', iv, additionalData: AAD }, key, plain);
  const raw = await crypto.subtle.exportKey('raw', key);
  return {
    blob: new Blob([cipher], { type: 'application/octet-stream' }),
    meta: {
      key: toB64(raw),
      iv: toB64(iv),
      name: file.name || 'file',
      type: file.type || 'application/octet-stream',
      size: file.size,
      width: dims ? dims.width : null,
      height: dims ? dims.height : null,
    },
  };
}

/** A download failed because the file is gone (deleted with its message). */
export class FileGone extends Error {}

/**
 * Fetches a file's ciphertext from `url` and decrypts it with `meta`:
 * a Blob of the original bytes, typed as an image only for the raster
 * types (everything else is application/octet-stream, so that opening
 * its blob: URL can never render HTML in this origin).
 */
export async function decryptFile(url, meta) {
  const res = await fetch(url, { credentials: 'same-origin', cache: 'no-cache' });
  if (res.status === 404 || res.status === 403) throw new FileGone('File no longer available');
  if (!res.ok) throw new Error(`The file could not be loaded (${res.status}).`);
  const cipher = await res.arrayBuffer();
  const key = await crypto.subtle.importKey('raw', fromB64(meta.key), { name: 'AES-GCM' }, false, ['decrypt']);
  const plain = await crypto.subtle.decrypt({ name: 'AES-GCM', iv: fromB64(meta.iv), additionalData: AAD }, key, cipher);
  return new Blob([plain], { type: INLINE_TYPES.has(meta.type) ? meta.type : 'application/octet-stream' });
}
