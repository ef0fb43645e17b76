// End-to-end encrypted groups: two browsers exchange messages only they can
// read; history decrypts after a reload; the plaintext never reaches the
// database files or the server log; plaintext frames are refused; a new
// device key raises a warning; a later member reads only what came after;
// a page without WebCrypto (plain HTTP, not localhost) explains why the
// composer is disabled.

import { describe, test, before } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import * as H from './helpers.mjs';

// Debug logging, so "not in the log" means something.
process.env.SECURECHAT_LOG = 'debug';

const SECRETS = {
  first: 'Meet at the old mill at 23:40, bring the blue folder',
  reply: 'Understood: old mill, blue folder, 23:40 sharp',
  edited: 'Change of plan: the lighthouse at 23:55 instead',
  later: 'Welcome carol, the lighthouse plan stands',
  laptop: 'Writing from my new laptop, same plan',
  after: 'Got it on the laptop too, see you there',
  offline: 'Typed while the server was restarting, delivered afterwards',
};
// While the server restarts, the browser logs the refused (or cut) connections.
const RESTART = [/WebSocket connection to '.*' failed/, /Failed to load resource: net::ERR_(CONNECTION_REFUSED|CONNECTION_RESET|EMPTY_RESPONSE)/];
const LEAK = 'plaintext frame that must be refused 9f3c';

const inGroup = (page) => page.getByRole('list', { name: 'In this group' });

/** The `In this group` entry of a user. */
function person(page, username) {
  return inGroup(page).locator('li.person').filter({ has: page.locator('.uname', { hasText: new RegExp(`^${H.escapeRe(username)}$`) }) });
}

/** The grouped fingerprints a page shows for a user, once it shows `count` of them. */
async function shownFingerprints(page, username, count = 1) {
  const fps = person(page, username).locator('code.fp');
  await fps.nth(count - 1).waitFor();
  return fps.allTextContents();
}

const grouped = (hex) => hex.match(/.{4}/g).join(' ');

async function serverKeys(page, groupId) {
  return page.evaluate(async (id) => (await (await fetch(`/api/groups/${id}/keys`)).json()).keys, groupId);
}

function filesUnder(dir) {
  return readdirSync(dir).flatMap((name) => {
    const p = path.join(dir, name);
    return statSync(p).isDirectory() ? filesUnder(p) : [p];
  });
}

describe('end-to-end encrypted groups', () => {
  const ctx = H.usersOnServer('e2e', ['alice', 'bob'], { ignore: RESTART });
  let alice;
  let bob;
  let carol;
  let bob2;
  let groupId;
  before(() => ({ alice, bob } = ctx.users));

  test('two members exchange and edit messages both can read; fingerprints match the server', async () => {
    groupId = await H.createGroup(alice.page, 'secret-plans', { e2e: true });
    await H.groupsNav(alice.page).getByRole('link', { name: /secret-plans/ })
      .getByRole('img', { name: 'End-to-end encrypted' }).waitFor();
    await H.joinGroup(bob.page, 'secret-plans', groupId, { loaded: true });

    // Each side lists both members' fingerprints, equal to the server's SHA-256 of the SPKI.
    const keys = await serverKeys(alice.page, groupId);
    assert.equal(keys.length, 2);
    for (const k of keys) assert.match(k.fingerprint, /^[0-9a-f]{64}$/);
    const fp = Object.fromEntries(keys.map((k) => [k.username, grouped(k.fingerprint)]));
    for (const u of [alice, bob]) {
      assert.deepEqual(await shownFingerprints(u.page, 'alice'), [fp.alice]);
      assert.deepEqual(await shownFingerprints(u.page, 'bob'), [fp.bob]);
    }
    await person(alice.page, 'alice').getByText('this device').waitFor();
    assert.equal(await person(alice.page, 'bob').getByText('this device').count(), 0);

    await H.send(alice.page, SECRETS.first);
    await H.messageTexts(bob.page, SECRETS.first).waitFor();
    await H.send(bob.page, SECRETS.reply);
    await H.messageTexts(alice.page, SECRETS.reply).waitFor();

    // What the server stores: an envelope wrapped for both devices, no content.
    const stored = await alice.page.evaluate(async (id) => (await (await fetch(`/api/groups/${id}/messages`)).json()).messages, groupId);
    assert.equal(stored.length, 2);
    for (const m of stored) {
      assert.equal(m.content, undefined);
      assert.deepEqual(Object.keys(m.envelope).sort(), ['ciphertext', 'iv', 'keys', 'sig', 'signer']);
      assert.equal(Buffer.from(m.envelope.sig, 'base64').length, 64);
      assert.equal(m.envelope.signer, keys.find((k) => k.username === m.author).fingerprint);
      assert.deepEqual(Object.keys(m.envelope.keys).sort(), keys.map((k) => k.fingerprint).sort());
      assert.equal(Buffer.from(m.envelope.iv, 'base64').length, 12);
    }
    assert.notEqual(stored[0].envelope.iv, stored[1].envelope.iv);

    // An edit is encrypted again (PATCH with an envelope).
    const mine = H.log(alice.page).locator('.msg', { hasText: SECRETS.first });
    await mine.hover();
    await mine.getByRole('button', { name: 'Edit' }).click();
    const editor = alice.page.getByRole('textbox', { name: 'Edit text' });
    assert.equal(await editor.inputValue(), SECRETS.first);
    await editor.fill(SECRETS.edited);
    await editor.press('Enter');
    const theirs = H.log(bob.page).locator('.msg', { hasText: SECRETS.edited });
    await theirs.waitFor();
    await theirs.locator('.edited').waitFor({ state: 'visible' });
  });

  test('history decrypts after a reload', async () => {
    await bob.page.reload();
    await H.messageTexts(bob.page, SECRETS.edited).waitFor();
    await H.messageTexts(bob.page, SECRETS.reply).waitFor();
    assert.equal(await H.log(bob.page).locator('.msg.undecryptable').count(), 0);
  });

  test('plaintext is refused in an encrypted group', async () => {
    const frame = await H.answerTo(alice.page, groupId, { content: LEAK });
    assert.equal(frame.type, 'error');
    assert.equal(frame.code, 'bad_request');
    // Edits with plaintext are refused too.
    const id = Number(await H.log(alice.page).locator('.msg', { hasText: SECRETS.edited }).getAttribute('data-id'));
    // (from Node with alice's cookie, so the page does not log the 400)
    const cookie = (await alice.context.cookies()).map((c) => `${c.name}=${c.value}`).join('; ');
    const csrf = await alice.page.locator('meta[name="csrf-token"]').getAttribute('content');
    const { status } = await fetch(`${ctx.url}/api/messages/${id}`, {
      method: 'PATCH',
      headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf, Cookie: cookie },
      body: JSON.stringify({ content: LEAK }),
    });
    assert.equal(status, 400);
    await H.sleep(300);
    assert.equal(await H.messageTexts(bob.page, LEAK).count(), 0);
  });

  test('a member who joins later reads only what is sent after', async () => {
    carol = await ctx.register('carol');
    await H.joinGroup(carol.page, 'secret-plans', groupId, { loaded: true });
    const old = H.log(carol.page).locator('.msg .text', { hasText: 'Not encrypted for this device' });
    await old.nth(1).waitFor();
    assert.equal(await old.count(), 2);
    assert.equal(await H.messageTexts(carol.page, SECRETS.reply).count(), 0);
    // Once alice's client knows carol's key, new messages include her.
    await shownFingerprints(alice.page, 'carol');
    await H.send(alice.page, SECRETS.later);
    await H.messageTexts(carol.page, SECRETS.later).waitFor();
    await H.messageTexts(bob.page, SECRETS.later).waitFor();

    // The screenshot: an encrypted conversation with every member's fingerprint.
    await alice.page.mouse.move(1275, 795);
    await alice.page.waitForTimeout(150);
    await alice.page.screenshot({ path: H.screenshotPath('e2e-light.png') });
  });

  test('a new device key raises a warning naming the user until acknowledged', async () => {
    const before = await shownFingerprints(alice.page, 'bob');
    assert.equal(before.length, 1);
    // bob logs in from a fresh browser: a new device key.
    bob2 = await H.logIn(ctx.browser, ctx.url, 'bob', { errors: ctx.errors, ignore: RESTART });
    await bob2.page.goto(`/chat#group-${groupId}`);
    await H.log(bob2.page).locator('.log-top.start').waitFor();
    // Older messages were not encrypted for the new device.
    await H.log(bob2.page).getByText('Not encrypted for this device').first().waitFor();
    await H.send(bob2.page, SECRETS.laptop);

    // alice reads it, notices the unknown device, and warns.
    await H.messageTexts(alice.page, SECRETS.laptop).waitFor();
    const warning = alice.page.getByRole('alert').filter({ hasText: "bob's encryption keys changed" });
    await warning.waitFor();
    const keys = await serverKeys(alice.page, groupId);
    const bobKeys = keys.filter((k) => k.username === 'bob').map((k) => grouped(k.fingerprint));
    assert.equal(bobKeys.length, 2);
    const added = bobKeys.find((f) => f !== before[0]);
    await warning.getByText(added).waitFor();
    assert.deepEqual((await shownFingerprints(alice.page, 'bob', 2)).sort(), bobKeys.sort());
    // bob's first browser hears about his own new device too.
    await bob.page.getByRole('alert').filter({ hasText: 'Your own encryption keys changed (bob)' }).waitFor();
    await alice.page.screenshot({ path: H.screenshotPath('e2e-key-warning-light.png') });

    // Messages from now on are readable on both of bob's devices.
    await H.send(alice.page, SECRETS.after);
    await H.messageTexts(bob2.page, SECRETS.after).waitFor();
    await H.messageTexts(bob.page, SECRETS.after).waitFor();

    // Acknowledged: gone, and it stays gone after a reload.
    await warning.getByRole('button', { name: 'Accept new keys' }).click();
    await warning.waitFor({ state: 'detached' });
    await alice.page.reload();
    await shownFingerprints(alice.page, 'bob', 2);
    await H.messageTexts(alice.page, SECRETS.after).waitFor();
    assert.equal(await alice.page.getByRole('alert').filter({ hasText: 'encryption keys changed' }).count(), 0);
  });

  test('an encrypted message typed while the server is down is sent once after it restarts', async () => {
    await ctx.stop();
    await alice.page.getByText('Reconnecting…').waitFor();
    await H.composer(alice.page).fill(SECRETS.offline);
    await H.composer(alice.page).press('Enter');
    await H.log(alice.page).locator('.msg.pending', { hasText: SECRETS.offline }).waitFor();
    await ctx.start();
    // Skip the rest of each client's back-off wait, as the browser's "online" event does.
    for (const u of [alice, bob, bob2, carol]) await u.page.evaluate(() => window.dispatchEvent(new Event('online')));
    await H.log(alice.page).locator('.msg.pending').waitFor({ state: 'detached', timeout: 20000 });
    for (const u of [bob, bob2, carol]) await H.messageTexts(u.page, SECRETS.offline).waitFor({ timeout: 20000 });
    for (const u of [alice, bob]) assert.equal(await H.messageTexts(u.page, SECRETS.offline).count(), 1);
  });

  test('the plaintext appears nowhere in the data directory or the server log', async () => {
    const files = filesUnder(ctx.srv.dataDir);
    assert.ok(files.some((f) => f.endsWith('chat.sqlite3')), `files: ${files}`);
    const texts = [...Object.values(SECRETS), LEAK];
    let envelopes = 0;
    for (const f of files) {
      const bytes = readFileSync(f);
      envelopes += bytes.includes(Buffer.from('"ciphertext"')) ? 1 : 0;
      for (const t of texts) {
        assert.equal(bytes.includes(Buffer.from(t, 'utf8')), false, `"${t}" found in ${f}`);
      }
      // Distinctive pieces too, in case of re-encoding.
      for (const t of Object.values(SECRETS)) {
        for (const piece of t.split(/[ ,:]+/).filter((w) => w.length >= 8)) {
          assert.equal(bytes.includes(Buffer.from(piece, 'utf8')), false, `"${piece}" found in ${f}`);
        }
      }
    }
    assert.ok(envelopes > 0, 'the envelopes are in the files read');
    assert.ok(ctx.serverLog.length > 0, 'the server logged something at debug level');
    for (const t of texts) assert.equal(ctx.serverLog.includes(t), false, `"${t}" found in the server log`);
  });

  test('without WebCrypto (plain HTTP, not localhost) encrypted groups explain why they are read-only', async () => {
    // A host name that is not localhost makes plain HTTP an insecure context.
    const port = new URL(ctx.url).port;
    const insecure = await H.launchBrowser(['--host-resolver-rules=MAP chat.e2e.test 127.0.0.1', '--disable-features=HttpsUpgrades']);
    try {
      // Chromium says the server's Cross-Origin-Opener-Policy needs a trustworthy origin: expected here.
      const u = await H.logIn(insecure, `http://chat.e2e.test:${port}`, 'carol',
        { errors: ctx.errors, ignore: [/Cross-Origin-Opener-Policy header has been ignored/] });
      const { page } = u;
      assert.deepEqual(await page.evaluate(() => [window.isSecureContext, typeof crypto.subtle]), [false, 'undefined']);
      await page.goto(`/chat#group-${groupId}`);
      await page.getByText('End-to-end encrypted groups need HTTPS or localhost').waitFor();
      assert.equal(await H.composer(page).isDisabled(), true);
      await H.log(page).getByText('open SecureChat over HTTPS').first().waitFor();
      assert.equal(await H.messageTexts(page, SECRETS.later).count(), 0);
      await page.screenshot({ path: H.screenshotPath('e2e-insecure-light.png') });
      // Plain groups keep working.
      await H.createGroup(page, 'plain-talk');
      assert.equal(await H.composer(page).isDisabled(), false);
      await H.send(page, 'plain groups still work here');
    } finally {
      await insecure.close();
    }
  });

  test('no console errors', () => {
    H.assertNoErrors(ctx.errors);
  });
});
