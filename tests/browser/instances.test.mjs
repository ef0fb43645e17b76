// Two browsers chatting across two instances on one PostgreSQL database
// (`--database`, each instance its own data directory, one shared
// `--files-dir`), as behind a load balancer without sticky sessions: alice
// on instance A, bob on instance B. Groups, presence, messages, typing, a
// DM with its unread badge and a mention badge cross between them live, and
// bob's session cookie works on A as it does on B.
//
// Needs a PostgreSQL cluster: run under tests/with-postgres, which sets
// SECURECHAT_TEST_PG; without it the suite skips itself.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import * as H from './helpers.mjs';

const PG = process.env.SECURECHAT_TEST_PG;

/** Runs one SQL statement on the cluster's maintenance database with psql. */
function psql(sql) {
  const r = spawnSync('psql', [PG, '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-c', sql], { encoding: 'utf8' });
  assert.equal(r.status, 0, `psql ${sql}: ${r.error?.message || ''}${r.stderr}`);
}

/** A new, empty database on the cluster; resolves to {name, url}. */
function newDatabase(tag) {
  const name = `${tag}_${process.pid}_${Date.now()}`;
  psql(`CREATE DATABASE ${name}`);
  return { name, url: `${PG.slice(0, PG.lastIndexOf('/'))}/${name}` };
}

const groupLink = (page, name) => H.groupsNav(page).getByRole('link', { name: new RegExp(`^#?\\s*${H.escapeRe(name)}\\b`) });
const inGroup = (page) => page.getByRole('list', { name: 'In this group' });
const online = (page) => page.getByRole('list', { name: 'Online', exact: true });

describe('two browsers chatting across two instances', { skip: PG ? false : 'needs SECURECHAT_TEST_PG (tests/with-postgres)' }, () => {
  const dir = H.tempDir('instances');
  const errors = [];
  let db;
  let a;
  let b;
  let browser;
  let alice;
  let bob;
  let groupId;

  before(async () => {
    db = newDatabase('browser_instances');
    const args = ['--database', db.url, '--files-dir', path.join(dir, 'shared-files')];
    a = await H.startServer({ dataDir: path.join(dir, 'a'), args });
    b = await H.startServer({ dataDir: path.join(dir, 'b'), args });
    assert.notEqual(a.port, b.port);
    browser = await H.launchBrowser();
    alice = await H.registerUser(browser, a.url, 'alice', { errors });
    bob = await H.registerUser(browser, b.url, 'bob', { errors });
  });

  after(async () => {
    if (browser) await browser.close();
    for (const s of [a, b]) if (s) await s.stop();
    if (db) spawnSync('psql', [PG, '-X', '-q', '-c', `DROP DATABASE IF EXISTS ${db.name}`]);
    H.removeDir(dir);
  });

  // A user whose only socket is the chat page's `/ws` is online on every
  // instance (it once was only on its own: Hub::listen did not publish).
  test('the server-wide Online list on each instance names the user on the other, before any conversation is open', async () => {
    await online(alice.page).getByText('bob', { exact: true }).waitFor({ timeout: 5000 });
    await online(bob.page).getByText('alice', { exact: true }).waitFor({ timeout: 5000 });
  });

  test('a group alice creates on A appears live in bob\'s sidebar on B; he joins and both see each other in it', async () => {
    groupId = await H.createGroup(alice.page, 'across');
    assert.ok(groupId > 0);
    // No reload on B: the new group arrives over bob's notifications socket.
    await H.joinGroup(bob.page, 'across', groupId, { loaded: true });
    await groupLink(bob.page, 'across').waitFor();
    for (const u of [alice, bob]) {
      await inGroup(u.page).getByText('alice', { exact: true }).waitFor();
      await inGroup(u.page).getByText('bob', { exact: true }).waitFor();
      // With a room socket open on each side, the server-wide list crosses too.
      await online(u.page).getByText('alice', { exact: true }).waitFor();
      await online(u.page).getByText('bob', { exact: true }).waitFor();
    }
  });

  test('messages cross both ways live, within a couple of seconds', async () => {
    let t = Date.now();
    await H.send(alice.page, 'hello from A');
    const got = H.log(bob.page).locator('.msg', { hasText: 'hello from A' });
    await got.waitFor();
    const aToB = Date.now() - t;
    assert.equal(await got.locator('.author').textContent(), 'alice');

    t = Date.now();
    await H.send(bob.page, 'hi from B');
    const back = H.log(alice.page).locator('.msg', { hasText: 'hi from B' });
    await back.waitFor();
    const bToA = Date.now() - t;
    assert.equal(await back.locator('.author').textContent(), 'bob');
    assert.ok(aToB < 3000 && bToA < 3000, `A→B ${aToB} ms, B→A ${bToA} ms`);

    // Each page shows both, once, in order.
    for (const u of [alice, bob]) {
      assert.deepEqual(await H.log(u.page).locator('.msg .text').allTextContents(), ['hello from A', 'hi from B']);
    }
  });

  test('typing on B is shown on A', async () => {
    await H.composer(bob.page).click();
    // Typing notices go out at most every 2 s: type for longer than that.
    await bob.page.keyboard.type('thinking about it', { delay: 160 });
    await alice.page.getByText('bob is typing…').waitFor();
    await H.composer(bob.page).fill('');
  });

  test('a DM from alice on A reaches bob on B with an unread badge, and his answer comes back', async () => {
    await online(alice.page).getByRole('button', { name: 'Start DM with bob' }).click();
    await alice.page.locator('#conv-title', { hasText: 'bob' }).waitFor();
    await H.send(alice.page, 'psst, across instances');

    // Bob is still in #across: the DM shows up in his sidebar with a badge.
    const link = H.dmsNav(bob.page).getByRole('link', { name: /alice/ });
    await link.locator('.badge', { hasText: '1' }).waitFor();
    await link.click();
    await H.messageTexts(bob.page, 'psst, across instances').waitFor();
    await H.send(bob.page, 'got it on B');
    await H.messageTexts(alice.page, 'got it on B').waitFor();
  });

  test('a mention of bob made on A raises the mention badge of the group in his sidebar on B', async () => {
    // Bob stays in the DM; alice goes back to the group.
    await alice.page.goto(`/chat#group-${groupId}`);
    await H.messageTexts(alice.page, 'hi from B').waitFor();
    await H.send(alice.page, '@bob have a look');
    const link = groupLink(bob.page, 'across');
    await link.locator('.mention-badge', { hasText: '@1' }).waitFor();
    await link.click();
    await H.messageTexts(bob.page, '@bob have a look').waitFor();
    await link.locator('.mention-badge').waitFor({ state: 'detached' });
  });

  test('bob\'s session cookie from B works on A (no sticky sessions): a tab on A is live and chats', async () => {
    // Cookies are per host, not per port: the tab on A sends the cookie B set.
    const page = await bob.context.newPage();
    H.watchErrors(page, errors);
    await page.goto(`${a.url}/chat#group-${groupId}`);
    assert.match(page.url(), /\/chat/, 'not sent to the login page');
    await H.waitLive(page, 'bob');
    const me = await page.evaluate(async () => {
      const r = await fetch('/api/me');
      return { status: r.status, body: await r.json() };
    });
    assert.equal(me.status, 200);
    assert.equal(me.body.username, 'bob');
    await H.messageTexts(page, '@bob have a look').waitFor();
    // A message sent through A from bob's tab there reaches alice on A and bob's tab on B.
    await H.send(page, 'bob, now via A');
    await H.messageTexts(alice.page, 'bob, now via A').waitFor();
    await H.messageTexts(bob.page, 'bob, now via A').waitFor();
    await page.close();
  });

  test('no console errors', () => {
    H.assertNoErrors(errors);
  });
});
