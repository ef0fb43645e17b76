// Signed end-to-end encrypted messages, E2E DMs and device management:
// an encrypted DM is its own room beside the plaintext one; every envelope
// carries a signature over the documented canonical bytes, checked in Node
// here; a verified message shows no mark, a tampered or foreign-signed one
// is marked "Unverified" (nothing breaks on malformed envelopes); the
// server refuses envelopes without a valid-looking signature from the
// author's device (and the page says so); a device removed on /account gets
// a new key on its next load, and the other member is warned both times;
// the cryptography runs in the E2E worker; an encrypted DM of three works,
// and an envelope replayed there from another room is marked.

import { describe, test, before } from 'node:test';
import assert from 'node:assert/strict';
import {
  createPublicKey, verify as nodeVerify, sign as nodeSign, randomBytes, createCipheriv, publicEncrypt, generateKeyPairSync, constants,
} from 'node:crypto';
import * as H from './helpers.mjs';

const UNVERIFIED = 'Unverified — could not confirm who sent this';
const REPLACED = "This browser's old key was removed from your account; it now has a new key";

// The 409 of a removed device's registration, and the 400s provoked on purpose.
const IGNORE = [H.expectedStatus(409, /^\/api\/keys$/), H.expectedStatus(400, /^\/api\/messages\/\d+$/)];

const grouped = (hex) => hex.match(/.{4}/g).join(' ');

/** Opens a DM with `names` from the people picker (Encrypted ticked when `e2e`); resolves to its id. */
async function openDm(page, names, { e2e = false } = {}) {
  await H.dmsNav(page).getByRole('button', { name: 'New message' }).click();
  const picker = page.getByRole('group', { name: 'New conversation' });
  for (const n of names) {
    await picker.getByLabel('Add people').fill(n);
    await picker.getByLabel('Add people').press('Enter');
    await picker.getByRole('list', { name: 'People in the new conversation' }).getByText(n, { exact: true }).waitFor();
  }
  await picker.getByLabel('Encrypted', { exact: true }).setChecked(e2e);
  await picker.getByRole('button', { name: 'Start' }).click();
  await picker.waitFor({ state: 'hidden' });
  await page.waitForFunction(() => /^#group-\d+$/.test(window.location.hash));
  const id = Number(new URL(page.url()).hash.replace('#group-', ''));
  await H.log(page).locator('.log-top.start').waitFor();
  return id;
}

/** The DM list's link to conversation `id`. */
const dmLink = (page, id) => H.dmsNav(page).locator(`a[href="#group-${id}"]`);

async function getJson(page, url) {
  return page.evaluate(async (u) => (await fetch(u)).json(), url);
}

const storedMessages = async (page, id) => (await getJson(page, `/api/groups/${id}/messages`)).messages;
const groupKeys = async (page, id) => (await getJson(page, `/api/groups/${id}/keys`)).keys;

/** The canonical signed bytes (README "End-to-end encrypted groups"). */
function signedBytes(groupId, author, env) {
  return Buffer.from(JSON.stringify(['securechat-sig/v1', groupId, author.toLowerCase(), env.iv, env.ciphertext,
    Object.keys(env.keys).sort().map((fp) => [fp, env.keys[fp]])]), 'utf8');
}

function nodeVerifies(signingKey, groupId, author, env) {
  const key = createPublicKey({ key: Buffer.from(signingKey, 'base64'), format: 'der', type: 'spki' });
  return nodeVerify('sha256', signedBytes(groupId, author, env), { key, dsaEncoding: 'ieee-p1363' }, Buffer.from(env.sig, 'base64'));
}

/** A message row of the log with exactly this text. */
const row = (page, text) => H.log(page).locator('.msg')
  .filter({ has: page.locator('.text').filter({ hasText: new RegExp(`^${H.escapeRe(text)}$`) }) });

const b64 = (n) => randomBytes(n).toString('base64');

describe('signed end-to-end encrypted messages, E2E DMs and devices', () => {
  const ctx = H.usersOnServer('e2e-signed', ['alice', 'bob', 'carol'], { ignore: IGNORE });
  let alice;
  let bob;
  let carol;
  let dm;
  let plainDm;
  let fps;
  before(() => ({ alice, bob, carol } = ctx.users));

  test('an encrypted DM is readable by both and is not the plaintext DM with the same people', async () => {
    dm = await openDm(alice.page, ['bob'], { e2e: true });
    await alice.page.locator('#conv-title').getByRole('img', { name: 'End-to-end encrypted' }).waitFor();
    await dmLink(alice.page, dm).getByRole('img', { name: 'End-to-end encrypted' }).waitFor();
    await H.send(alice.page, 'only we can read this DM');

    // bob finds it in his list with the lock, and reads it.
    await dmLink(bob.page, dm).getByRole('img', { name: 'End-to-end encrypted' }).waitFor();
    await dmLink(bob.page, dm).click();
    await H.messageTexts(bob.page, 'only we can read this DM').waitFor();
    await H.send(bob.page, 'and the server cannot');
    await H.messageTexts(alice.page, 'and the server cannot').waitFor();

    // The plaintext DM with the same person is another room, without the lock.
    plainDm = await openDm(alice.page, ['bob']);
    assert.notEqual(plainDm, dm);
    assert.equal(await dmLink(alice.page, plainDm).getByRole('img', { name: 'End-to-end encrypted' }).count(), 0);
    assert.equal(await H.messageTexts(alice.page, 'only we can read this DM').count(), 0);
    await H.send(alice.page, 'a plain hello');
    const plain = await storedMessages(alice.page, plainDm);
    assert.deepEqual(plain.map((m) => m.content), ['a plain hello']);
    const dms = (await getJson(alice.page, '/api/dms')).dms;
    const mine = dms.filter((d) => d.group_id === dm || d.group_id === plainDm);
    assert.deepEqual(mine.map((d) => [d.group_id, d.e2e]).sort(), [[dm, true], [plainDm, false]].sort());
    // Asking again for an encrypted DM reopens the same one.
    assert.equal(await openDm(alice.page, ['bob'], { e2e: true }), dm);

    // What the server stores: envelopes only, each signed by its author's device.
    const stored = await storedMessages(alice.page, dm);
    const keys = await groupKeys(alice.page, dm);
    fps = Object.fromEntries(keys.map((k) => [k.username, k.fingerprint]));
    assert.equal(stored.length, 2);
    for (const m of stored) {
      assert.equal(m.content, undefined);
      assert.deepEqual(Object.keys(m.envelope).sort(), ['ciphertext', 'iv', 'keys', 'sig', 'signer']);
      assert.equal(m.envelope.signer, fps[m.author]);
      assert.equal(Buffer.from(m.envelope.sig, 'base64').length, 64);
      const k = keys.find((x) => x.fingerprint === m.envelope.signer);
      assert.ok(k.signing_key, 'the signer has a signing key');
      // The canonical encoding the README documents is what was signed…
      assert.equal(nodeVerifies(k.signing_key, dm, m.author, m.envelope), true, `signature of ${m.author}`);
      // …and it binds group and author.
      assert.equal(nodeVerifies(k.signing_key, dm + 1, m.author, m.envelope), false);
      assert.equal(nodeVerifies(k.signing_key, dm, 'carol', m.envelope), false);
    }
  });

  test('verified messages show no warning, also after a reload and after an edit', async () => {
    for (const u of [alice, bob]) {
      await u.page.goto(`/chat#group-${dm}`);
      await H.messageTexts(u.page, 'only we can read this DM').waitFor();
      await H.messageTexts(u.page, 'and the server cannot').waitFor();
    }
    // An edit is signed again.
    const mine = row(alice.page, 'only we can read this DM');
    await mine.hover();
    await mine.getByRole('button', { name: 'Edit' }).click();
    const editor = alice.page.getByRole('textbox', { name: 'Edit text' });
    await editor.fill('only we can read this DM (edited)');
    await editor.press('Enter');
    await H.messageTexts(bob.page, 'only we can read this DM (edited)').waitFor();
    const stored = await storedMessages(bob.page, dm);
    const keys = await groupKeys(bob.page, dm);
    const edited = stored.find((m) => m.edited_at);
    assert.ok(nodeVerifies(keys.find((k) => k.username === 'alice').signing_key, dm, 'alice', edited.envelope));
    await H.sleep(300);
    for (const u of [alice, bob]) assert.equal(await H.log(u.page).getByText(UNVERIFIED).count(), 0, u.username);
  });

  test('the cryptography runs in the E2E worker, off the page\'s thread', async () => {
    for (const u of [alice, bob]) {
      // Both pages sealed or opened messages above: through the worker, not the page's fallback.
      const worker = u.page.workers().find((w) => new URL(w.url()).pathname === '/static/js/e2e-worker.js');
      assert.ok(worker, `${u.username}: no E2E worker among ${u.page.workers().map((w) => w.url())}`);
      assert.equal(await u.page.evaluate(async () => (await import('/static/js/e2e-offload.js')).where()), 'worker', u.username);
    }
    // What the worker sealed arrives, readable and signed.
    await H.composer(alice.page).fill('sealed in the worker');
    await H.composer(alice.page).press('Enter');
    await H.messageTexts(bob.page, 'sealed in the worker').waitFor();
    const keys = await groupKeys(bob.page, dm);
    const sent = (await storedMessages(bob.page, dm)).reduce((a, b) => (b.id > a.id ? b : a));
    assert.ok(nodeVerifies(keys.find((k) => k.username === 'alice').signing_key, dm, 'alice', sent.envelope));
  });

  test('a tampered, foreign-signed, unsigned or malformed envelope is marked unverified and nothing breaks', async () => {
    const texts = ['tamper one', 'tamper two', 'tamper three', 'tamper four', 'left alone'];
    for (const t of texts) await H.send(alice.page, t);
    await H.messageTexts(bob.page, 'left alone').waitFor();

    // bob's page receives a doctored history (the server could do this).
    const flip = (s) => {
      const b = Buffer.from(s, 'base64');
      b[7] ^= 0x01;
      return b.toString('base64');
    };
    await bob.page.route(`**/api/groups/${dm}/messages*`, async (route) => {
      const resp = await route.fetch();
      const json = await resp.json();
      for (const m of json.messages || []) {
        if (!m.envelope) continue;
        const i = json.messages.filter((x) => x.author === 'alice' && x.id >= m.id).length;
        // Newest five of alice's, from the oldest: one, two, three, four, left alone.
        if (m.author !== 'alice' || i > 5) continue;
        if (i === 5) m.envelope.sig = flip(m.envelope.sig);
        if (i === 4) m.envelope.signer = fps.bob;
        if (i === 3) {
          delete m.envelope.sig;
          delete m.envelope.signer;
        }
        if (i === 2) {
          m.envelope.keys = 'not an object';
          m.envelope.iv = 17;
          m.envelope.sig = 'AA';
        }
      }
      await route.fulfill({ response: resp, json });
    });
    await bob.page.reload();
    await H.log(bob.page).locator('.log-top.start').waitFor();
    const mark = (t) => row(bob.page, t).getByRole('note').filter({ hasText: UNVERIFIED });
    await mark('tamper one').waitFor();
    await mark('tamper two').waitFor();
    await mark('tamper three').waitFor();
    // The malformed one is neither readable nor verified; the untouched one is fine.
    const broken = H.log(bob.page).locator('.msg.undecryptable').filter({ has: bob.page.getByRole('note').filter({ hasText: UNVERIFIED }) });
    await broken.waitFor();
    assert.equal(await H.messageTexts(bob.page, 'tamper four').count(), 0);
    await H.messageTexts(bob.page, 'left alone').waitFor();
    assert.equal(await mark('left alone').count(), 0);
    // The mark says why, to assistive technology too.
    assert.match(await mark('tamper one').getAttribute('aria-label'), /signature does not match/);
    assert.match(await mark('tamper two').getAttribute('aria-label'), /does not belong to alice/);
    await bob.page.screenshot({ path: H.screenshotPath('e2e-unverified-light.png') });
    await bob.page.unrouteAll({ behavior: 'wait' });

    // A live frame altered on its way (the receiving page's socket is tampered with).
    let tamper = true;
    await bob.page.routeWebSocket(/\/ws\/chat\//, (ws) => {
      const server = ws.connectToServer();
      server.onMessage((data) => {
        let out = data;
        if (tamper && typeof data === 'string') {
          const f = JSON.parse(data);
          if (f.type === 'message' && f.envelope && f.envelope.sig) {
            f.envelope.sig = flip(f.envelope.sig);
            out = JSON.stringify(f);
          }
        }
        ws.send(out);
      });
    });
    await bob.page.reload();
    await H.messageTexts(bob.page, 'left alone').waitFor();
    await H.sleep(500);
    await H.send(alice.page, 'altered on the wire');
    await mark('altered on the wire').waitFor();
    tamper = false;
    await H.send(alice.page, 'straight through');
    await H.messageTexts(bob.page, 'straight through').waitFor();
    await H.sleep(300);
    assert.equal(await mark('straight through').count(), 0);
    // The page keeps working; the real history verifies again.
    await bob.page.unrouteAll({ behavior: 'wait' });
    await bob.page.reload();
    await H.messageTexts(bob.page, 'tamper four').waitFor();
    await H.messageTexts(bob.page, 'altered on the wire').waitFor();
    await H.sleep(300);
    assert.equal(await H.log(bob.page).getByText(UNVERIFIED).count(), 0);
  });

  test('the server refuses envelopes without a valid-looking signature by the author; the page says so', async () => {
    const keys = await groupKeys(alice.page, dm);
    const base = () => ({ iv: b64(12), ciphertext: b64(48), keys: Object.fromEntries(keys.map((k) => [k.fingerprint, b64(256)])) });
    const cases = {
      'no signer or sig': base(),
      'sig not 64 bytes': { ...base(), signer: fps.alice, sig: b64(63) },
      'sig not base64': { ...base(), signer: fps.alice, sig: '!'.repeat(88) },
      "another member's device": { ...base(), signer: fps.bob, sig: b64(64) },
      'no such device': { ...base(), signer: 'ab'.repeat(32), sig: b64(64) },
    };
    for (const [what, env] of Object.entries(cases)) {
      const f = await H.answerTo(alice.page, dm, { envelope: env });
      assert.equal(f.type, 'error', what);
      assert.equal(f.code, 'bad_request', what);
    }
    // A well-formed signature that is wrong passes the server (it cannot
    // check it) and is marked by the reader.
    const forged = await H.answerTo(alice.page, dm, { envelope: { ...base(), signer: fps.alice, sig: b64(64) } });
    assert.equal(forged.type, 'ack');
    await H.log(bob.page).locator('.msg').last().getByRole('note').filter({ hasText: UNVERIFIED }).waitFor();

    // Edits need a signed envelope too (from Node with alice's cookie).
    const id = Number(await row(alice.page, 'straight through').getAttribute('data-id'));
    const cookie = (await alice.context.cookies()).map((c) => `${c.name}=${c.value}`).join('; ');
    const csrf = await alice.page.locator('meta[name="csrf-token"]').getAttribute('content');
    const { status } = await fetch(`${ctx.url}/api/messages/${id}`, {
      method: 'PATCH',
      headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf, Cookie: cookie },
      body: JSON.stringify({ envelope: base() }),
    });
    assert.equal(status, 400);

    // alice's own page, when its socket loses the signature on the way out: the refusal shows, nothing crashes.
    let strip = true;
    await alice.page.routeWebSocket(/\/ws\/chat\//, (ws) => {
      const server = ws.connectToServer();
      ws.onMessage((data) => {
        let out = data;
        if (strip && typeof data === 'string') {
          const f = JSON.parse(data);
          if (f.type === 'message' && f.envelope) {
            delete f.envelope.sig;
            out = JSON.stringify(f);
          }
        }
        server.send(out);
      });
    });
    await alice.page.reload();
    await H.log(alice.page).locator('.log-top.start').waitFor();
    await H.composer(alice.page).fill('this one loses its signature');
    await H.composer(alice.page).press('Enter');
    await row(alice.page, 'this one loses its signature').locator('.status', { hasText: 'The server could not read that message.' }).waitFor();
    await alice.page.getByRole('alert').filter({ hasText: 'The server could not read that message.' }).first().waitFor();
    strip = false;
    await H.send(alice.page, 'signed again');
    await H.messageTexts(bob.page, 'signed again').waitFor();
    assert.equal(await H.messageTexts(bob.page, 'this one loses its signature').count(), 0);
    await alice.page.unrouteAll({ behavior: 'wait' });
  });

  test("a changed signing key of a known device raises the key-change warning", async () => {
    // carol is in a DM with bob; her page is then served another signing key for bob's device.
    const id = await openDm(carol.page, ['bob'], { e2e: true });
    await H.send(carol.page, 'hello bob, from carol');
    const other = await carol.page.evaluate(async () => {
      const pair = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify']);
      const spki = new Uint8Array(await crypto.subtle.exportKey('spki', pair.publicKey));
      return btoa(String.fromCharCode(...spki));
    });
    await carol.page.route(`**/api/groups/${id}/keys`, async (route) => {
      const resp = await route.fetch();
      const json = await resp.json();
      for (const k of json.keys) if (k.username === 'bob') k.signing_key = other;
      await route.fulfill({ response: resp, json });
    });
    await carol.page.reload();
    const warning = carol.page.getByRole('alert').filter({ hasText: "bob's encryption keys changed" });
    await warning.waitFor();
    await warning.getByText('New signing key').waitFor();
    await warning.getByText(grouped(fps.bob)).waitFor();
    await carol.page.unrouteAll({ behavior: 'wait' });
    await carol.page.reload();
    // The real key again: the same as remembered, so no warning.
    await H.messageTexts(carol.page, 'hello bob, from carol').waitFor();
    await H.sleep(500);
    assert.equal(await carol.page.getByRole('alert').filter({ hasText: "bob's encryption keys changed" }).count(), 0);
  });

  test('a device removed on /account gets a new key when it comes back; the other member is warned', async () => {
    // bob on a second browser: a second device.
    const bob2 = await H.logIn(ctx.browser, ctx.url, 'bob', { errors: ctx.errors, ignore: IGNORE });
    await bob2.page.goto(`/chat#group-${dm}`);
    await H.log(bob2.page).locator('.log-top.start').waitFor();
    const bob2Fp = await bob2.page.evaluate(async (id) => {
      const keys = (await (await fetch(`/api/groups/${id}/keys`)).json()).keys;
      return keys.filter((k) => k.username === 'bob').map((k) => k.fingerprint);
    }, dm);
    assert.equal(bob2Fp.length, 2);
    const second = bob2Fp.find((f) => f !== fps.bob);
    await H.send(bob2.page, 'from my second browser');
    await H.messageTexts(alice.page, 'from my second browser').waitFor();
    // A new device verifies nothing until alice accepts it (the server could have slipped it in).
    const pendingMark = row(alice.page, 'from my second browser').getByRole('note').filter({ hasText: UNVERIFIED });
    await pendingMark.waitFor();
    assert.match(await pendingMark.getAttribute('aria-label'), /not accepted yet/);
    const warning = alice.page.getByRole('alert').filter({ hasText: "bob's encryption keys changed" });
    await warning.waitFor();
    await warning.getByRole('button', { name: 'Accept new keys' }).click();
    await warning.waitFor({ state: 'detached' });
    await pendingMark.waitFor({ state: 'detached' });

    // On his first browser, bob opens /account: both devices, this one marked.
    await bob.page.getByRole('link', { name: 'Account', exact: true }).click();
    await bob.page.waitForURL(/\/account$/);
    const list = bob.page.getByRole('list', { name: 'Your devices' });
    await list.getByRole('listitem').nth(1).waitFor();
    assert.equal(await list.getByRole('listitem').count(), 2);
    const mineRow = list.getByRole('listitem').filter({ hasText: 'this device' });
    await mineRow.getByText(grouped(fps.bob)).waitFor();
    assert.match(await mineRow.textContent(), /First seen .+ · Last used .+/);
    const otherRow = list.getByRole('listitem').filter({ hasText: grouped(second) });
    await otherRow.getByRole('button', { name: /^Remove/ }).click();
    // Asked first: Cancel keeps it.
    await otherRow.getByRole('group').getByRole('button', { name: 'Cancel' }).click();
    assert.equal(await list.getByRole('listitem').count(), 2);
    await otherRow.getByRole('button', { name: /^Remove/ }).click();
    await otherRow.getByRole('group').getByRole('button', { name: 'Remove key' }).click();
    await bob.page.getByRole('status').filter({ hasText: `Removed the device ${grouped(second)}` }).waitFor();
    await otherRow.waitFor({ state: 'detached' });
    assert.equal(await list.getByRole('listitem').count(), 1);
    await bob.page.screenshot({ path: H.screenshotPath('account-devices-light.png') });

    // alice is told at once (keys_changed), naming the removed key.
    await warning.waitFor();
    await warning.locator('li', { hasText: 'Removed' }).getByText(grouped(second)).waitFor();

    // The removed browser, still open, learns it at once (keys_changed): a new key, and it says so.
    await bob2.page.getByRole('alert').filter({ hasText: REPLACED }).waitFor();
    const after = (await groupKeys(alice.page, dm)).filter((k) => k.username === 'bob').map((k) => k.fingerprint);
    assert.equal(after.length, 2);
    const third = after.find((f) => f !== fps.bob);
    assert.notEqual(third, second);
    assert.equal(after.includes(second), false);
    // alice's warning names the new key too; until she accepts it, it verifies nothing.
    await warning.locator('li', { hasText: 'New' }).getByText(grouped(third)).waitFor();
    await H.send(bob2.page, 'back with a new key');
    await H.messageTexts(alice.page, 'back with a new key').waitFor();
    await row(alice.page, 'back with a new key').getByText(UNVERIFIED).waitFor();
    await warning.getByRole('button', { name: 'Accept new keys' }).click();
    await warning.waitFor({ state: 'detached' });
    await row(alice.page, 'back with a new key').getByText(UNVERIFIED).waitFor({ state: 'detached' });
    // The message of the removed device still verifies (alice remembered its key).
    assert.equal(await row(alice.page, 'from my second browser').getByText(UNVERIFIED).count(), 0);
    // bob's account page lists the new one.
    await bob.page.reload();
    await list.getByRole('listitem').filter({ hasText: grouped(third) }).waitFor();
    await bob2.context.close();
  });

  test('a device from before signatures gets a signing key on its next load and registers both keys', async () => {
    const dave = await ctx.register('dave');
    // Replace this browser's device with one as older versions stored it: an RSA key only.
    const old = await dave.page.evaluate(async () => {
      const id = Number(document.getElementById('me').dataset.userId);
      const pair = await crypto.subtle.generateKey({
        name: 'RSA-OAEP', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256',
      }, false, ['wrapKey', 'unwrapKey']);
      const spki = new Uint8Array(await crypto.subtle.exportKey('spki', pair.publicKey));
      const b64 = btoa(String.fromCharCode(...spki));
      const fingerprint = [...new Uint8Array(await crypto.subtle.digest('SHA-256', spki))].map((b) => b.toString(16).padStart(2, '0')).join('');
      const db = await new Promise((resolve, reject) => {
        const req = indexedDB.open('securechat-e2e', 1);
        req.onsuccess = () => resolve(req.result);
        req.onerror = () => reject(req.error);
      });
      await new Promise((resolve, reject) => {
        const t = db.transaction('device-keys', 'readwrite');
        t.objectStore('device-keys').put({
          privateKey: pair.privateKey, publicKey: pair.publicKey, spki: b64, fingerprint, username: 'dave', createdAt: Date.now(),
        }, `user-${id}`);
        t.oncomplete = resolve;
        t.onerror = () => reject(t.error);
      });
      db.close();
      const csrf = document.querySelector('meta[name="csrf-token"]').content;
      const r = await fetch('/api/keys', {
        method: 'PUT', headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf }, body: JSON.stringify({ public_key: b64 }),
      });
      return { fingerprint, status: r.status };
    });
    assert.equal(old.status, 200);
    const before = (await getJson(dave.page, '/api/keys')).devices.find((d) => d.fingerprint === old.fingerprint);
    assert.equal(before.signing_key, null);
    await dave.page.reload();
    await H.waitLive(dave.page, 'dave');
    let upgraded = null;
    for (let i = 0; i < 50 && !upgraded; i += 1) {
      upgraded = (await getJson(dave.page, '/api/keys')).devices.find((d) => d.fingerprint === old.fingerprint && d.signing_key);
      if (!upgraded) await H.sleep(200);
    }
    assert.ok(upgraded, 'the old device registered a signing key');
    // The same device (fingerprint) signs now: a message in an encrypted DM verifies for bob.
    const id = await openDm(dave.page, ['bob'], { e2e: true });
    await H.send(dave.page, 'dave, upgraded');
    const [m] = await storedMessages(dave.page, id);
    assert.equal(m.envelope.signer, old.fingerprint);
    const k = (await groupKeys(dave.page, id)).find((x) => x.fingerprint === old.fingerprint);
    assert.ok(nodeVerifies(k.signing_key, id, 'dave', m.envelope));
  });

  test('a message the server forges with a signing key it slipped in for a known device is unverified until accepted', async () => {
    await carol.page.goto('/chat');
    await H.waitLive(carol.page, 'carol');
    const id = await openDm(carol.page, ['bob'], { e2e: true });
    const real = await groupKeys(carol.page, id);
    const victim = real.find((k) => k.username === 'bob');
    // The server's forgery: its own signing key listed for bob's device, and a message that
    // decrypts for carol, signed with it.
    const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const forgedKey = publicKey.export({ type: 'spki', format: 'der' }).toString('base64');
    const aes = randomBytes(32);
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', aes, iv);
    cipher.setAAD(Buffer.from(`securechat-e2e/v1\ngroup:${id}\nauthor:bob`));
    const ct = Buffer.concat([cipher.update('forged by the server', 'utf8'), cipher.final(), cipher.getAuthTag()]);
    const keys = {};
    for (const k of real.filter((x) => x.username === 'carol')) {
      const pub = createPublicKey({ key: Buffer.from(k.public_key, 'base64'), format: 'der', type: 'spki' });
      keys[k.fingerprint] = publicEncrypt({ key: pub, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, aes).toString('base64');
    }
    const envelope = { iv: iv.toString('base64'), ciphertext: ct.toString('base64'), keys, signer: victim.fingerprint };
    envelope.sig = nodeSign('sha256', signedBytes(id, 'bob', envelope), { key: privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64');
    await carol.page.route(`**/api/groups/${id}/keys`, async (route) => {
      const resp = await route.fetch();
      const json = await resp.json();
      for (const k of json.keys) if (k.fingerprint === victim.fingerprint) k.signing_key = forgedKey;
      await route.fulfill({ response: resp, json });
    });
    await carol.page.route(`**/api/groups/${id}/messages*`, async (route) => {
      const resp = await route.fetch();
      const json = await resp.json();
      const last = json.messages.reduce((a, b) => (b.id > a.id ? b : a));
      json.messages.push({ ...last, id: last.id + 1000, author: 'bob', envelope, created_at: last.created_at + 1 });
      await route.fulfill({ response: resp, json });
    });
    await carol.page.reload();
    const warning = carol.page.getByRole('alert').filter({ hasText: "bob's encryption keys changed" });
    await warning.waitFor();
    const forged = row(carol.page, 'forged by the server').getByRole('note').filter({ hasText: UNVERIFIED });
    await forged.waitFor();
    assert.match(await forged.getAttribute('aria-label'), /new key of bob's that you have not accepted yet/);
    // Accepting (trust is the user's call after comparing fingerprints) makes it verify.
    await warning.getByRole('button', { name: 'Accept new keys' }).click();
    await forged.waitFor({ state: 'detached' });
    // The real keys again: bob's real key is now the change to accept; accepting it restores trust.
    await carol.page.unrouteAll({ behavior: 'wait' });
    await carol.page.reload();
    await warning.waitFor();
    await warning.getByRole('button', { name: 'Accept new keys' }).click();
    await warning.waitFor({ state: 'detached' });
  });

  test('an encrypted DM of three: each reads the others, every message verified and wrapped for all their devices; a replay from another room is marked', async () => {
    for (const u of [alice, bob, carol]) {
      await u.page.goto('/chat');
      await H.waitLive(u.page, u.username);
    }
    const trio = await openDm(alice.page, ['bob', 'carol'], { e2e: true });
    assert.notEqual(trio, dm);
    await H.send(alice.page, 'three of us, from alice');
    for (const u of [bob, carol]) {
      await dmLink(u.page, trio).getByRole('img', { name: 'End-to-end encrypted' }).waitFor();
      await dmLink(u.page, trio).click();
      await H.messageTexts(u.page, 'three of us, from alice').waitFor();
      await H.send(u.page, `three of us, from ${u.username}`);
    }
    for (const u of [alice, bob, carol]) {
      for (const from of ['alice', 'bob', 'carol']) await H.messageTexts(u.page, `three of us, from ${from}`).waitFor();
    }
    const keys = await groupKeys(carol.page, trio);
    // (bob has two devices by now: his first and the one that came back with a new key.)
    assert.deepEqual([...new Set(keys.map((k) => k.username))].sort(), ['alice', 'bob', 'carol']);
    const stored = await storedMessages(carol.page, trio);
    assert.equal(stored.length, 3);
    for (const m of stored) {
      assert.deepEqual(Object.keys(m.envelope.keys).sort(), keys.map((k) => k.fingerprint).sort());
      const k = keys.find((x) => x.fingerprint === m.envelope.signer);
      assert.equal(k.username, m.author);
      assert.ok(nodeVerifies(k.signing_key, trio, m.author, m.envelope), `signature of ${m.author}`);
    }
    await H.sleep(300);
    for (const u of [alice, bob, carol]) assert.equal(await H.log(u.page).getByText(UNVERIFIED).count(), 0, u.username);

    // A real envelope of alice's from the two-person DM, replayed into this room (by her own
    // client here; the server could do the same): the server cannot tell, so it is stored, but
    // it neither decrypts nor verifies here — group and author are bound and signed.
    const original = (await storedMessages(alice.page, dm)).find((m) => m.author === 'alice');
    const ack = await H.answerTo(alice.page, trio, { envelope: original.envelope });
    assert.equal(ack.type, 'ack', JSON.stringify(ack));
    const replayed = H.log(bob.page).locator('.msg.undecryptable').filter({ has: bob.page.getByRole('note').filter({ hasText: UNVERIFIED }) });
    await replayed.waitFor();
    assert.match(await replayed.getByRole('note').filter({ hasText: UNVERIFIED }).getAttribute('aria-label'), /signature does not match/);
    await H.send(bob.page, 'still talking after the replay');
    await H.messageTexts(carol.page, 'still talking after the replay').waitFor();
  });

  test('no console errors', () => {
    H.assertNoErrors(ctx.errors);
  });
});
