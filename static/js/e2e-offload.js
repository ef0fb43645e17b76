// Where the E2E cryptography runs: in one dedicated module worker
// (e2e-worker.js) for the whole page, started on first use; in the page
// itself when the browser cannot start it (no module workers, a worker
// that fails to load) — the same functions either way (e2e-crypto.js),
// so results do not depend on where they ran. Requests waiting for a
// worker that fails are run in the page instead; nothing is lost.

import * as inline from './e2e-crypto.js';

const OPS = new Set(['seal', 'open', 'verify']);

let worker = null;
let failed = false;
/** The worker said it loaded (its imports included). */
let loaded = false;
let nextId = 1;
/** id → {resolve, reject, op, args} */
const pending = new Map();

function runInline(op, args) {
  return inline[op](args);
}

function fallBack() {
  failed = true;
  if (worker) worker.terminate();
  worker = null;
  const waiting = [...pending.values()];
  pending.clear();
  for (const p of waiting) runInline(p.op, p.args).then(p.resolve, p.reject);
}

function start() {
  if (worker || failed) return worker;
  if (typeof Worker === 'undefined') {
    failed = true;
    return null;
  }
  try {
    worker = new Worker(new URL('./e2e-worker.js', import.meta.url), { type: 'module', name: 'securechat-e2e' });
  } catch {
    failed = true;
    return null;
  }
  worker.onmessage = ({ data }) => {
    if (!data) return;
    if (data.ready) {
      loaded = true;
      return;
    }
    const p = pending.get(data.id);
    if (!p) return;
    pending.delete(data.id);
    if (typeof data.error === 'string') p.reject(new Error(data.error));
    else p.resolve(data.result);
  };
  // A worker that cannot load (or a request that cannot be read there):
  // the page does the work from now on.
  worker.onerror = (ev) => {
    if (ev && ev.preventDefault) ev.preventDefault();
    fallBack();
  };
  worker.onmessageerror = () => fallBack();
  return worker;
}

/** Runs `op` (seal, open or verify: e2e-crypto.js) with `args`, off the page's thread where possible. */
export function run(op, args) {
  if (!OPS.has(op)) return Promise.reject(new Error(`unknown operation ${op}`));
  const w = start();
  if (!w) return runInline(op, args);
  return new Promise((resolve, reject) => {
    const id = nextId;
    nextId += 1;
    pending.set(id, { resolve, reject, op, args });
    try {
      w.postMessage({ id, op, args });
    } catch {
      // Something here cannot be cloned to a worker: do it in the page.
      pending.delete(id);
      runInline(op, args).then(resolve, reject);
    }
  });
}

/** Where the cryptography runs now: 'worker' or 'page' (for tests and the benchmark). */
export function where() {
  return worker && loaded && !failed ? 'worker' : 'page';
}
