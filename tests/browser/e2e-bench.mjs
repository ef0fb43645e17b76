// Measures end-to-end encryption in headless Chromium for a 100-member
// E2E group: the time to encrypt and sign one message for every member
// device (100 RSA-OAEP keys), to verify and decrypt one, and to verify and
// decrypt a burst arriving at once (a busy room), each with the longest
// the page's main thread was blocked meanwhile — through the codec, whose
// cryptography runs in the E2E worker, against the same functions
// (e2e-crypto.js) called on the page's thread, interleaved in the same
// run. Not part of the suite (`make bench` runs it):
//   node tests/browser/e2e-bench.mjs [members=100] [runs=15] [burst=50]
// The 99 other members register through the HTTP API from Node, with keys
// made by Node's crypto (the server cannot tell them from browsers').

import { generateKeyPairSync } from 'node:crypto';
import path from 'node:path';
import * as H from './helpers.mjs';

const MEMBERS = Number(process.argv[2]) || 100;
const RUNS = Number(process.argv[3]) || 15;
const BURST = Number(process.argv[4]) || 50;

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

  const result = await alice.page.evaluate(async ([id, runs, burst]) => {
    const { codecFor } = await import('/static/js/e2e.js');
    const { api } = await import('/static/js/api.js');
    const offload = await import('/static/js/e2e-offload.js');
    const inPage = await import('/static/js/e2e-crypto.js');
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
    const timed = async (fn) => {
      const stop = watch();
      const t = performance.now();
      const r = await fn();
      return { ms: performance.now() - t, stall: stop(), r };
    };
    // The baseline: the same functions (e2e-crypto.js) called on the page's thread.
    const dev = codec.device;
    const recipients = codec.directory.map((r) => ({ fingerprint: r.fingerprint, spki: r.spki }));
    const args = (i) => ({ groupId: id, author: me.username, plain: `benchmark message ${i}: the quick brown fox`, recipients, signKey: dev.signPrivate });
    const openPage = async (env) => {
      const [o, v] = await Promise.all([
        inPage.open({ groupId: id, author: me.username, env, fingerprint: dev.fingerprint, privateKey: dev.privateKey }),
        inPage.verify({ groupId: id, author: me.username, env, spki: dev.signSpki }),
      ]);
      if (typeof o.plain !== 'string' || !v.ok) throw new Error('page open failed');
    };
    const out = { worker: { enc: [], dec: [], encStall: [], decStall: [], burst: [], burstStall: [] },
      page: { enc: [], dec: [], encStall: [], decStall: [], burst: [], burstStall: [] } };
    await codec.encode('warm-up');
    await inPage.seal(args(0));
    for (let i = 0; i < runs; i += 1) {
      // Interleaved: worker, then page, each run.
      let e = await timed(() => codec.encode(`benchmark message ${i}: the quick brown fox`));
      out.worker.enc.push(e.ms);
      out.worker.encStall.push(e.stall);
      const { envelope } = e.r;
      codec.cache.clear();
      const d = await timed(() => codec.decode({ author: me.username, envelope }));
      if (d.r.failed || !d.r.verified) throw new Error(`decode failed: ${JSON.stringify(d.r)}`);
      out.worker.dec.push(d.ms);
      out.worker.decStall.push(d.stall);
      e = await timed(() => inPage.seal(args(i)));
      out.page.enc.push(e.ms);
      out.page.encStall.push(e.stall);
      const env = { ...e.r, signer: dev.fingerprint };
      const p = await timed(() => openPage(env));
      out.page.dec.push(p.ms);
      out.page.decStall.push(p.stall);
    }
    // A busy room: `burst` messages arriving at once, each verified and decrypted.
    const envs = [];
    for (let i = 0; i < burst; i += 1) envs.push((await codec.encode(`burst ${i}`)).envelope);
    for (let i = 0; i < Math.max(3, Math.floor(runs / 3)); i += 1) {
      codec.cache.clear();
      const w = await timed(() => Promise.all(envs.map((envelope) => codec.decode({ author: me.username, envelope }))));
      if (w.r.some((r) => r.failed || !r.verified)) throw new Error('burst decode failed');
      out.worker.burst.push(w.ms);
      out.worker.burstStall.push(w.stall);
      const p = await timed(() => Promise.all(envs.map((env) => openPage(env))));
      out.page.burst.push(p.ms);
      out.page.burstStall.push(p.stall);
    }
    codec.close();
    return { devices, where: offload.where(), out };
  }, [gid, RUNS, BURST]);
  const f = (xs) => `${median(xs).toFixed(1)} ms (min ${Math.min(...xs).toFixed(1)}, max ${Math.max(...xs).toFixed(1)})`;
  const ratio = (a, b) => (median(a) / median(b)).toFixed(2);
  const { worker: w, page: p } = result.out;
  console.log(`E2E group of ${MEMBERS} members, ${result.devices} device keys, ${RUNS} runs, crypto in the ${result.where}; medians:`);
  console.log('                                 in the E2E worker                  on the page (baseline)             worker/page');
  console.log(`  encrypt + sign one message:    ${f(w.enc)}; stall ${f(w.encStall)} | ${f(p.enc)}; stall ${f(p.encStall)} | time ${ratio(w.enc, p.enc)}, stall ${ratio(w.encStall, p.encStall)}`);
  console.log(`  verify + decrypt one message:  ${f(w.dec)}; stall ${f(w.decStall)} | ${f(p.dec)}; stall ${f(p.decStall)} | time ${ratio(w.dec, p.dec)}, stall ${ratio(w.decStall, p.decStall)}`);
  console.log(`  a burst of ${BURST} messages at once: ${f(w.burst)}; stall ${f(w.burstStall)} | ${f(p.burst)}; stall ${f(p.burstStall)} | time ${ratio(w.burst, p.burst)}, stall ${ratio(w.burstStall, p.burstStall)}`);
} finally {
  await browser.close();
  await srv.stop();
  H.removeDir(dir);
}
