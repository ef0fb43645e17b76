// The E2E worker: runs the cryptography of e2e-crypto.js on its own
// thread, so that sealing a message for a hundred devices or opening a
// burst of them never stalls the page (typing, scrolling, rendering).
// Requests are `{id, op, args}` with op one of seal/open/verify; answers
// are `{id, result}` or `{id, error}`. CryptoKeys arrive by structured
// clone (non-extractable ones too: the key never becomes bytes). Started
// and spoken to only by e2e-offload.js.

import { seal, open, verify } from './e2e-crypto.js';

const ops = { seal, open, verify };

self.onmessage = async ({ data }) => {
  const { id, op, args } = data || {};
  const fn = Object.hasOwn(ops, op) ? ops[op] : null;
  try {
    if (!fn) throw new Error(`unknown operation ${String(op)}`);
    self.postMessage({ id, result: await fn(args) });
  } catch (e) {
    self.postMessage({ id, error: (e && e.message) || String(e) });
  }
};

// Tells the page this worker loaded (its imports included).
self.postMessage({ ready: true });
