// Base64 for the bytes of end-to-end encryption (keys, IVs, ciphertexts,
// signatures). Its own module because it runs in the page and in the E2E
// worker (e2e-worker.js), which has no DOM and must not load page modules.

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
