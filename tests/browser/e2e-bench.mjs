// Measures end-to-end encryption in headless Chromium for a 100-member
// E2E group: the time to encrypt and sign one message for every member
// device (100 RSA-OAEP keys), and to verify and decrypt one, with the
// longest the main thread was blocked meanwhile. Not part of the suite:
//   node tests/browser/e2e-bench.mjs [members=100] [runs=15]
// The 99 other members register through the HTTP API from Node, with keys
// made by Node's crypto (the server cannot tell them from browsers').

import { generateKeyPairSync } from 'node:crypto';
import path from 'node:path';
import * as H from './helpers.mjs';

const MEMBERS = Number(process.argv[2]) || 100;
const RUNS = Number(process.argv[3]) || 15;

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

function cookieOf(res, jar) {
  for (const c of res.headers.getSetCookie()) {
    const [kv] = c.split(';');
    const [k, v] = kv.split('=');
    jar[k.trim()] = v;
  }
  return Object.entries(jar).map(([k, v]) => `${k}=${v}`).join('; ');
}

/** Registers `name` over HTTP, registers Node-made device keys, joins group `gid`. */
async function member(url, name, gid) {
  const jar = {};
  let res = await fetch(`${url}/register`, { redirect: 'manual' });
  let cookie = cookieOf(res, jar);
  const csrf0 = /name="csrf_token" value="([^"]+)"/.exec(await res.text())[1];
  res = await fetch(`${url}/register`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', Cookie: cookie, Origin: url },
    body: new URLSearchParams({ csrf_token: csrf0, username: name, password: 'correct horse battery' }),
  });
  if (res.status !== 303 && res.status !== 302) throw new Error(`register ${name}: ${res.status}`);
  cookie = cookieOf(res, jar);
  res = await fetch(`${url}/chat`, { headers: { Cookie: cookie } });
  const csrf = /name="csrf-token" content="([^"]+)"/.exec(await res.text())[1];
  const headers = { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf, Cookie: cookie, Origin: url };
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ type: 'spki', format: 'der' });
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'der' });
  res = await fetch(`${url}/api/keys`, {
    method: 'PUT', headers, body: JSON.stringify({ public_key: rsa.toString('base64'), signing_key: ec.toString('base64') }),
  });
  if (!res.ok) throw new Error(`keys ${name}: ${res.status} ${await res.text()}`);
  res = await fetch(`${url}/api/groups/${gid}/join`, { method: 'POST', headers });
  if (!res.ok) throw new Error(`join ${name}: ${res.status} ${await res.text()}`);
}

const dir = H.tempDir('e2e-bench');
const srv = await H.startServer({ dataDir: path.join(dir, 'data'), args: ['--register-rate', '100000'] });
const browser = await H.launchBrowser();
try {
  const alice = await H.registerUser(browser, srv.url, 'alice');
  const gid = await H.createGroup(alice.page, 'hundred', { e2e: true });
  const t0 = Date.now();
  const names = Array.from({ length: MEMBERS - 1 }, (_, i) => `m${String(i).padStart(3, '0')}`);
  for (let i = 0; i < names.length; i += 4) await Promise.all(names.slice(i, i + 4).map((n) => member(srv.url, n, gid)));
  console.error(`${MEMBERS - 1} members registered in ${Date.now() - t0} ms`);

  const result = await alice.page.evaluate(async ([id, runs]) => {
    const { codecFor } = await import('/static/js/e2e.js');
    const { api } = await import('/static/js/api.js');
    const meEl = document.getElementById('me');
    const me = { id: Number(meEl.dataset.userId), username: meEl.querySelector('.me-name').textContent.trim() };
    const codec = codecFor({ id, e2e: true }, { api, me });
    await codec.ready();
    const devices = codec.directory.length;
    // The main thread's longest stall while the crypto runs, by a ping loop
    // (an upper bound: a gap with no ping counts whole, whatever ran in it).
    const watch = () => {
      let max = 0;
      let last = performance.now();
      let on = true;
      const ch = new MessageChannel();
      ch.port1.onmessage = () => {
        const now = performance.now();
        max = Math.max(max, now - last);
        last = now;
        if (on) ch.port2.postMessage(0);
      };
      ch.port2.postMessage(0);
      return () => {
        on = false;
        // The gap up to now counts too (the crypto may end before a ping ran).
        return Math.max(max, performance.now() - last);
      };
    };
    const enc = [];
    const dec = [];
    const encStall = [];
    const decStall = [];
    for (let i = 0; i < runs; i += 1) {
      let stop = watch();
      let t = performance.now();
      const { envelope } = await codec.encode(`benchmark message ${i}: the quick brown fox jumps over the lazy dog`);
      enc.push(performance.now() - t);
      encStall.push(stop());
      codec.cache.clear();
      stop = watch();
      t = performance.now();
      const r = await codec.decode({ author: me.username, envelope });
      dec.push(performance.now() - t);
      decStall.push(stop());
      if (r.failed || !r.verified) throw new Error(`decode failed: ${JSON.stringify(r)}`);
    }
    codec.close();
    return { devices, enc, dec, encStall, decStall };
  }, [gid, RUNS]);
  const f = (xs) => `${median(xs).toFixed(1)} ms (min ${Math.min(...xs).toFixed(1)}, max ${Math.max(...xs).toFixed(1)})`;
  console.log(`E2E group of ${MEMBERS} members, ${result.devices} device keys, ${RUNS} runs, median:`);
  console.log(`  encrypt + sign one message:   ${f(result.enc)}; longest main-thread stall ${f(result.encStall)}`);
  console.log(`  verify + decrypt one message: ${f(result.dec)}; longest main-thread stall ${f(result.decStall)}`);
} finally {
  await browser.close();
  await srv.stop();
  H.removeDir(dir);
}
