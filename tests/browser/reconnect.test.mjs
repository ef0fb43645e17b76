// The server restarts mid-conversation: both clients show "Reconnecting…",
// resume without reloading, and end up with every message exactly once,
// including ones typed while the server was down and ones others sent
// while these clients were still waiting to reconnect.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as H from './helpers.mjs';

// The browser logs each refused WebSocket attempt while the server is down.
const EXPECTED = [/WebSocket connection to '.*' failed/];

describe('server restart mid-conversation', () => {
  const ctx = H.usersOnServer('restart', ['alice', 'bob', 'carol'], { ignore: EXPECTED });
  let groupId;

  const all = ['before the restart', 'alice typed this offline', 'bob typed this offline',
    'carol sent this in the gap', 'after the restart'];

  async function expectOnce(page, texts) {
    for (const t of texts) {
      await H.messageTexts(page, t).waitFor();
      assert.equal(await H.messageTexts(page, t).count(), 1, `"${t}" shown once`);
    }
  }

  test('both clients reconnect and show every message exactly once', async (t) => {
    const { alice, bob, carol } = ctx.users;
    groupId = await H.createGroup(alice.page, 'ops');
    for (const u of [bob, carol]) {
      await H.joinGroup(u.page, 'ops', groupId);
    }
    // carol steps away from the chat page; she will post from a bare socket later.
    await carol.page.goto('/login');
    await H.send(alice.page, all[0]);
    await H.messageTexts(bob.page, all[0]).waitFor();

    const t0 = Date.now();
    await ctx.stop();
    for (const u of [alice, bob]) {
      await u.page.getByRole('status').filter({ hasText: 'Reconnecting…' }).waitFor();
    }
    // Typed while the server is down: queued, shown as sending…
    await H.composer(alice.page).fill(all[1]);
    await H.composer(alice.page).press('Enter');
    await H.composer(bob.page).fill(all[2]);
    await bob.page.getByRole('button', { name: 'Send', exact: true }).click();
    for (const [u, text] of [[alice, all[1]], [bob, all[2]]]) {
      const pending = H.log(u.page).locator('.msg.pending', { hasText: text });
      await pending.getByText('sending…').waitFor();
    }
    // Stay down long enough for the clients' backoff to grow past a second or two.
    await H.sleep(Math.max(0, 3000 - (Date.now() - t0)));

    await ctx.start();
    // Right away, before the waiting clients are back: carol posts.
    await H.sendViaSocket(carol.page, groupId, [all[3]]);
    const waiting = await Promise.all([alice, bob].map((u) => u.page.evaluate(
      () => document.getElementById('conn-status').classList.contains('shown'))));
    t.diagnostic(`still reconnecting when carol posted (replay path): alice=${waiting[0]} bob=${waiting[1]}`);

    for (const u of [alice, bob]) {
      await expectOnce(u.page, all.slice(0, 4));
      await u.page.getByRole('status').filter({ hasText: 'Reconnecting…' }).waitFor({ state: 'hidden' });
      await H.log(u.page).locator('.msg.pending').waitFor({ state: 'detached' });
    }
    // Live again.
    await H.send(bob.page, all[4]);
    await H.messageTexts(alice.page, all[4]).waitFor();
    // Late duplicates would show up within the reconcile delay.
    await H.sleep(1000);
    for (const u of [alice, bob]) await expectOnce(u.page, all);
    const order = await H.log(alice.page).locator('.msg .text').allTextContents();
    assert.equal(order[0], all[0]);
    assert.equal(order.at(-1), all[4]);

    // The server stored each exactly once: a fresh load from history agrees.
    await bob.page.reload();
    await expectOnce(bob.page, all);
    assert.equal(await H.log(bob.page).locator('.msg').count(), all.length);
  });

  test('a socket closed after leaving a group does not come back', async () => {
    const { alice, bob } = ctx.users;
    const { page } = bob;
    const attempts = [];
    page.on('console', (msg) => {
      if (/ws\/chat\//.test(msg.text())) attempts.push(msg.text());
    });
    await page.getByRole('button', { name: 'Leave group' }).click();
    await H.groupsNav(page).getByRole('listitem').filter({ hasText: 'ops' })
      .getByRole('button', { name: 'Join' }).waitFor();
    // alice still sees bob leave.
    await alice.page.getByRole('list', { name: 'In this group' }).getByText('bob', { exact: true })
      .waitFor({ state: 'detached' });
    await H.sleep(2000);
    // No reconnect attempts to the group (each would be refused with 403).
    assert.deepEqual(attempts, []);
    assert.equal(await page.getByRole('status').filter({ hasText: 'Reconnecting…' }).count(), 0);
    await page.getByRole('heading', { name: 'You left #ops' }).waitFor();
  });

  test('no console errors besides the refused reconnects', () => {
    H.assertNoErrors(ctx.errors);
  });
});

// After a reconnect the server replays what the client missed
// (`?after=ID&since=MS`: new messages, then edits, deletions and reactions
// since its last frame), so the client does not re-read the newest page of
// history. What arrives live after the replay is newer and stands.
describe('catching up after a reconnect', () => {
  const ctx = H.usersOnServer('late', ['alice', 'bob'], { ignore: EXPECTED });

  test('comes from the replay, with no catch-up request; live changes afterwards stand', async () => {
    const { alice, bob } = ctx.users;
    const groupId = await H.createGroup(bob.page, 'late');
    await H.joinGroup(alice.page, 'late', groupId);
    const ids = {};
    for (const text of ['to be edited', 'to be deleted']) {
      await H.send(bob.page, text);
      ids[text] = Number(await H.log(bob.page).locator('.msg', { hasText: text }).getAttribute('data-id'));
      await H.messageTexts(alice.page, text).waitFor();
    }

    let pages = 0;
    await alice.page.route(`**/api/groups/${groupId}/messages?limit=*`, (route) => {
      pages += 1;
      return route.continue();
    });
    const sockets = [];
    alice.page.on('websocket', (ws) => sockets.push(ws.url()));

    await ctx.stop();
    await alice.page.getByRole('status').filter({ hasText: 'Reconnecting…' }).waitFor();
    await ctx.start();
    await alice.page.getByRole('status').filter({ hasText: 'Reconnecting…' }).waitFor({ state: 'hidden' });

    // Live again: a new message, an edit and a deletion.
    await H.send(bob.page, 'sent meanwhile');
    await H.messageTexts(alice.page, 'sent meanwhile').waitFor();
    const change = (method, id, body) => bob.page.evaluate(async ([m, path, b]) => {
      const token = document.querySelector('meta[name="csrf-token"]').content;
      const res = await fetch(path, {
        method: m,
        headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': token },
        body: b ? JSON.stringify(b) : undefined,
      });
      return res.status;
    }, [method, `/api/messages/${id}`, body]);
    assert.equal(await change('PATCH', ids['to be edited'], { content: 'edited meanwhile' }), 200);
    assert.equal(await change('DELETE', ids['to be deleted']), 204);
    await H.messageTexts(alice.page, 'edited meanwhile').waitFor();
    await H.messageTexts(alice.page, 'to be deleted').waitFor({ state: 'detached' });

    await H.sleep(1000);
    assert.equal(pages, 0, 'no catch-up request');
    assert.ok(sockets.some((u) => new RegExp(`/ws/chat/${groupId}\\?after=\\d+&since=\\d+$`).test(u)), sockets.join('\n'));
    const texts = await H.log(alice.page).locator('.msg .text').allTextContents();
    assert.deepEqual(texts, ['edited meanwhile', 'sent meanwhile']);
  });

  test('no console errors besides the refused reconnects', () => {
    H.assertNoErrors(ctx.errors);
  });
});

// Switching conversations while the old one's socket is still connecting
// (a slow network) must not make the browser warn or leave that socket open.
describe('switching away from a socket that is still connecting', () => {
  const ctx = H.usersOnServer('switch', ['alice'], { proxy: { hold: /^GET \/ws\/chat\/\d+/, ms: 1500 } });

  test('no warning, the old socket closes once it opens, the new one works', async () => {
    const { page } = ctx.users.alice;
    // Chromium warns "WebSocket is closed before the connection is established".
    const warnings = [];
    page.on('console', (msg) => {
      if (/WebSocket/.test(msg.text())) warnings.push(msg.text());
    });
    const first = await H.createGroup(page, 'first');
    const second = await H.createGroup(page, 'second');
    // Both sockets are held in the proxy; switch while the first one waits.
    await page.evaluate((id) => { window.location.hash = `#group-${id}`; }, first);
    await H.sleep(300);
    await page.evaluate((id) => { window.location.hash = `#group-${id}`; }, second);
    await H.send(page, 'in the second group');
    // Once the first socket got through, it was closed again.
    await H.sleep(2000);
    const online = await page.evaluate(async (id) => (await fetch(`/api/groups/${id}/online`)).json(), first);
    assert.deepEqual(online.users, []);
    assert.deepEqual(warnings, []);
  });

  test('no console errors', () => {
    H.assertNoErrors(ctx.errors);
  });
});
