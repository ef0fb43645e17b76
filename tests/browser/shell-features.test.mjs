// The app shell's conversation features: unread and mention badges that
// come from the server (two browsers of one user agree, live), the title
// count, system notifications while hidden, search (highlights, paging,
// errors, jumping to the message, the E2E note, --no-search), group DMs
// from the people picker, the installable app (manifest, a service worker
// that caches only /static/) and the Admin link.

import { describe, test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as H from './helpers.mjs';

const IGNORE = [H.expectedStatus(400, /^\/api\/search$/)];

/** Runs before every page script: records notifications, and lets the test hide the page. */
function notificationStub() {
  window.__notes = [];
  class FakeNotification {
    constructor(title, options = {}) {
      this.title = title;
      this.body = options.body;
      this.tag = options.tag;
      window.__notes.push(this);
    }

    close() {
      this.closed = true;
    }
  }
  window.Notification = FakeNotification;
  // The permission outlives a reload, as the browser's would.
  let permission = sessionStorage.getItem('stub-permission') || 'default';
  Object.defineProperty(FakeNotification, 'permission', { get: () => permission });
  FakeNotification.requestPermission = () => {
    window.__asked = true;
    permission = 'granted';
    sessionStorage.setItem('stub-permission', permission);
    return Promise.resolve(permission);
  };
  let hidden = false;
  Object.defineProperty(document, 'hidden', { configurable: true, get: () => hidden });
  Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => (hidden ? 'hidden' : 'visible') });
  window.__setHidden = (v) => {
    hidden = v;
    document.dispatchEvent(new Event('visibilitychange'));
  };
}

/** Logs `username` in from a new context that allows notifications and has the stub. */
async function logInWithNotifications(ctx, username) {
  const context = await ctx.browser.newContext({
    baseURL: ctx.url, viewport: { width: 1280, height: 800 }, permissions: ['notifications'],
  });
  await context.addInitScript(notificationStub);
  const page = await context.newPage();
  H.watchErrors(page, ctx.errors, IGNORE);
  await page.goto('/login');
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill('correct horse battery');
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.waitForURL(/\/chat/);
  await H.waitLive(page, username);
  return { context, page, username };
}

const groupLink = (page, name) => H.groupsNav(page).getByRole('link', { name: new RegExp(`^#?\\s*${H.escapeRe(name)}\\b`) });

async function openGroup(page, id, someText) {
  await page.goto(`/chat#group-${id}`);
  await page.waitForFunction((g) => window.location.hash === `#group-${g}`
    && !document.getElementById('composer').hidden, id);
  if (someText) await H.messageTexts(page, someText).waitFor();
}

/** Joins a public group through its sidebar Join button. */
async function join(page, name, id) {
  await H.joinGroup(page, name, id);
  await groupLink(page, name).waitFor();
}

/** Searches from the topbar until the server's index has caught up (it trails the messages a little). */
async function search(page, q, { expect = 1 } = {}) {
  const box = page.getByRole('search').getByRole('searchbox', { name: 'Search messages' });
  const results = page.getByRole('list', { name: 'Search results' }).getByRole('listitem');
  for (let i = 0; i < 30; i += 1) {
    await box.fill(q);
    await box.press('Enter');
    await page.waitForFunction(() => !/Searching/.test(document.getElementById('search-status').textContent));
    if ((await results.count()) >= expect || !expect) return results;
    await H.sleep(200);
  }
  throw new Error(`no results for ${q}`);
}

describe('app shell conversation features', () => {
  const ctx = H.usersOnServer('shell', ['alice', 'bob', 'carol'], { ignore: IGNORE, args: ['--msg-rate', '0'] });
  let alice;
  let bob;
  let carol;
  let bob2;
  let general;
  let random;
  before(() => ({ alice, bob, carol } = ctx.users));

  test('unread and mention badges come from the server and agree across two browsers of one user', async () => {
    general = await H.createGroup(alice.page, 'general');
    random = await H.createGroup(alice.page, 'random');
    await join(bob.page, 'general', general);
    await join(bob.page, 'random', random);
    await join(carol.page, 'general', general);
    // Bob's second browser, also on #random.
    bob2 = await H.logIn(ctx.browser, ctx.url, 'bob', { errors: ctx.errors, ignore: IGNORE });
    await openGroup(bob2.page, random);

    await openGroup(alice.page, general);
    await H.send(alice.page, 'hello everyone');
    await H.send(alice.page, 'ping @bob have a look');
    for (const page of [bob.page, bob2.page]) {
      const link = groupLink(page, 'general');
      await link.locator('.badge:not(.mention-badge)', { hasText: /^2/ }).waitFor();
      await link.locator('.mention-badge', { hasText: '@1' }).waitFor();
      await page.waitForFunction(() => document.title === '(2) #random · SecureChat', null, { timeout: 5000 })
        .catch(async (e) => assert.fail(`${e.message}: title is ${await page.title()}`));
    }
    // After a reload the counts are the server's, not this page's memory.
    await bob2.page.reload();
    await H.waitLive(bob2.page, 'bob');
    await groupLink(bob2.page, 'general').locator('.mention-badge', { hasText: '@1' }).waitFor();
    await groupLink(bob2.page, 'general').locator('.badge:not(.mention-badge)', { hasText: /^2/ }).waitFor();

    // Read in one browser: cleared in the other, live.
    await groupLink(bob.page, 'general').click();
    await H.messageTexts(bob.page, 'ping @bob have a look').waitFor();
    assert.equal(await groupLink(bob.page, 'general').locator('.badge').count(), 0);
    await groupLink(bob2.page, 'general').locator('.badge').first().waitFor({ state: 'detached' });
    assert.equal(await groupLink(bob2.page, 'general').locator('.mention-badge').count(), 0);
    await bob2.page.waitForFunction(() => document.title === '#random · SecureChat');
    // And the server agrees.
    const groups = await bob2.page.evaluate(() => fetch('/api/groups').then((r) => r.json()));
    const g = groups.groups.find((x) => x.id === general);
    assert.equal(g.unread, 0);
    assert.equal(g.mentions, 0);
  });

  test('system notifications while hidden: mentions and DMs, once each, never own messages; clicking opens the conversation', async () => {
    const carolN = await logInWithNotifications(ctx, 'carol');
    const page = carolN.page;
    const toggle = page.getByRole('button', { name: /^Notifications:/ });
    assert.equal(await toggle.getAttribute('aria-pressed'), 'false');
    await toggle.click();
    await page.waitForFunction(() => document.getElementById('notify-toggle').getAttribute('aria-pressed') === 'true');
    assert.equal(await toggle.textContent(), 'Notifications: on');
    assert.equal(await page.evaluate(() => window.__asked), true, 'asked for the permission');
    // The choice is remembered by this browser.
    await page.reload();
    await H.waitLive(page, 'carol');
    assert.equal(await toggle.getAttribute('aria-pressed'), 'true');
    // Carol looks at her own group in both her browsers, so #general reaches her through /ws
    // (a user with a socket on a conversation gets no notices about it).
    const corner = await H.createGroup(page, 'carols-corner');
    await openGroup(carol.page, corner);
    const notes = () => page.evaluate(() => window.__notes.map((n) => ({ title: n.title, body: n.body })));

    // Visible: nothing.
    await H.send(alice.page, 'visible @carol check');
    await groupLink(page, 'general').locator('.mention-badge').waitFor();
    await H.sleep(600);
    assert.deepEqual(await notes(), []);

    await page.evaluate(() => window.__setHidden(true));
    await H.send(alice.page, 'hidden @carol are you there');
    await page.waitForFunction(() => window.__notes.length === 1);
    await H.send(alice.page, 'a message without a mention');
    await groupLink(page, 'general').locator('.badge:not(.mention-badge)', { hasText: /^3/ }).waitFor();
    await H.sleep(600);
    let got = await notes();
    assert.equal(got.length, 1, JSON.stringify(got));
    assert.match(got[0].title, /alice mentioned you in #general/);
    assert.equal(got[0].body, 'New message');

    // A DM from alice: opening it says nothing, a message in it does.
    await alice.page.getByRole('list', { name: 'Online', exact: true }).getByRole('button', { name: 'Start DM with carol' }).click();
    await alice.page.locator('#conv-title', { hasText: 'carol' }).waitFor();
    const dmId = Number(new URL(alice.page.url()).hash.replace('#group-', ''));
    await H.dmsNav(page).getByRole('link', { name: /alice/ }).waitFor();
    await H.sleep(600);
    assert.equal((await notes()).length, 1);
    await H.send(alice.page, 'a private word');
    await page.waitForFunction(() => window.__notes.length === 2);
    await H.sleep(600);
    got = await notes();
    assert.equal(got.length, 2, JSON.stringify(got));
    assert.match(got[1].title, /^alice/);
    assert.doesNotMatch(got[1].title + got[1].body, /private word/, 'no message content');

    // The open conversation's live messages (conversation.js's event): own ones never, each id once.
    await page.evaluate((id) => {
      const fire = (detail) => window.dispatchEvent(new CustomEvent('securechat:message', { detail }));
      fire({ groupId: id, messageId: 900001, author: 'carol', text: 'mine', mentionsMe: false, mine: true });
      fire({ groupId: id, messageId: 900002, author: 'alice', text: 'x', mentionsMe: true, mine: false });
      fire({ groupId: id, messageId: 900002, author: 'alice', text: 'x', mentionsMe: true, mine: false });
    }, dmId);
    assert.equal((await notes()).length, 3);

    // Clicking the mention opens #general at that message.
    await page.evaluate(() => window.__notes[0].onclick());
    await page.waitForFunction((g) => window.location.hash === `#group-${g}`, general);
    const msg = H.log(page).locator('.msg', { hasText: 'hidden @carol are you there' });
    await msg.waitFor();
    await assert.doesNotReject(msg.scrollIntoViewIfNeeded());
    assert.ok(await msg.isVisible());
    await carolN.context.close();
  });

  test('search: highlighted results, paging, errors, the E2E note, and a click opens the message', async () => {
    await openGroup(alice.page, general);
    await H.send(alice.page, 'Deployed the new build to staging');
    await H.sendViaSocket(alice.page, random, Array.from({ length: 23 }, (_, i) => `bulk note number ${i}`));
    await openGroup(bob.page, random);

    const page = bob.page;
    let results = await search(page, 'deplo');
    const hit = results.filter({ hasText: 'Deployed the new build' });
    await hit.waitFor();
    assert.equal(await hit.locator('mark').first().textContent(), 'Deployed');
    assert.match(await hit.locator('.hit-where').textContent(), /#general/);
    assert.equal(await hit.locator('.hit-author').textContent(), 'alice');
    assert.ok(await hit.locator('time').getAttribute('datetime'));
    await page.getByText('Encrypted conversations are searched in this browser, over messages it has loaded').waitFor();

    // Paging through `before`.
    results = await search(page, 'bulk', { expect: 20 });
    assert.equal(await results.count(), 20);
    const more = page.getByRole('button', { name: 'Load more' });
    await more.click();
    await page.waitForFunction(() => document.querySelectorAll('#search-results > li').length === 23);
    await more.waitFor({ state: 'hidden' });
    assert.equal(await results.locator('mark', { hasText: /^bulk$/ }).count(), 23);

    // Scoped to this conversation (#random): the #general hit is not there.
    await page.getByLabel('In this conversation').check();
    results = await search(page, 'deplo', { expect: 0 });
    assert.equal(await results.count(), 0);
    await page.getByLabel('In this conversation').uncheck();

    // A malformed query: the server's words, inline.
    await search(page, '"abc', { expect: 0 });
    const err = page.locator('#search-error');
    await err.waitFor();
    assert.match(await err.textContent(), /quote is not closed/);

    // A click opens #general at the message.
    results = await search(page, 'deplo');
    await results.filter({ hasText: 'Deployed the new build' }).getByRole('link').click();
    await page.waitForFunction((g) => window.location.hash === `#group-${g}`, general);
    await page.locator('#search-panel').waitFor({ state: 'hidden' });
    const msg = H.log(page).locator('.msg', { hasText: 'Deployed the new build to staging' });
    await msg.waitFor();
    assert.ok(await msg.isVisible());

    // A result far back in the history (beyond the first page): the click
    // loads the history up to it and scrolls it into view.
    await H.sendViaSocket(alice.page, random, ['the needle, far back',
      ...Array.from({ length: 70 }, (_, i) => `hay ${i}`)]);
    await openGroup(page, general);
    results = await search(page, 'needle');
    await results.filter({ hasText: 'the needle, far back' }).getByRole('link').click();
    await page.waitForFunction((g) => window.location.hash === `#group-${g}`, random);
    const far = H.log(page).locator('.msg', { hasText: 'the needle, far back' });
    await far.waitFor();
    await page.waitForFunction(() => {
      const el = [...document.querySelectorAll('#messages .msg')].find((m) => m.textContent.includes('the needle, far back'));
      const box = document.getElementById('messages').getBoundingClientRect();
      const r = el && el.getBoundingClientRect();
      return r && r.top >= box.top - 1 && r.bottom <= box.bottom + 1;
    }, null, { timeout: 10000 });
    assert.ok(await far.evaluate((el) => el.classList.contains('flash')), 'the message is highlighted');
  });

  test('search in an encrypted conversation: said plainly, and local matches when the conversation offers them', async () => {
    const page = alice.page;
    await H.createGroup(page, 'vault', { e2e: true });
    await page.waitForFunction(() => !document.getElementById('composer-input').disabled);
    await H.send(page, 'launch code omega');
    await search(page, 'omeg', { expect: 0 });
    await page.getByLabel('In this conversation').check();
    const results = await search(page, 'omeg', { expect: 0 });
    assert.equal(await results.count(), 0, 'the server has only ciphertext');
    await page.getByText('Encrypted conversations are searched in this browser, over messages it has loaded').waitFor();
    // The open conversation's decrypted messages, searched in this browser.
    const local = page.getByRole('list', { name: 'Matches in this browser' });
    const hit = local.getByRole('listitem').filter({ hasText: 'launch code omega' });
    await hit.waitFor();
    assert.equal(await hit.locator('mark').textContent(), 'omega');
    await page.getByLabel('In this conversation').uncheck();
    await page.getByRole('button', { name: 'Close search' }).click();
  });

  test('a group DM of three, started from the people picker, named by its members and reused', async () => {
    const page = alice.page;
    const open = async (names, how) => {
      await H.dmsNav(page).getByRole('button', { name: 'New message' }).click();
      const picker = page.getByRole('group', { name: 'New conversation' });
      for (const n of names) {
        if (how === 'type') {
          await picker.getByLabel('Add people').fill(n);
          await picker.getByLabel('Add people').press('Enter');
        } else await picker.getByRole('button', { name: `Add ${n}` }).click();
        await picker.getByRole('list', { name: 'People in the new conversation' }).getByText(n, { exact: true }).waitFor();
      }
      await picker.getByRole('button', { name: 'Start' }).click();
      await picker.waitFor({ state: 'hidden' });
      await page.locator('#conv-title', { hasText: 'bob, carol' }).waitFor();
      return Number(new URL(page.url()).hash.replace('#group-', ''));
    };
    const before = await H.dmsNav(page).getByRole('link').count();
    const id = await open(['bob', 'carol'], 'type');
    await H.dmsNav(page).getByRole('link', { name: /^bob, carol/ }).waitFor();
    await H.send(page, 'three of us');
    for (const [u, name] of [[bob, 'alice, carol'], [carol, 'alice, bob']]) {
      const link = H.dmsNav(u.page).getByRole('link', { name: new RegExp(`^${name}`) });
      await link.waitFor();
      await link.click();
      await H.messageTexts(u.page, 'three of us').waitFor();
    }
    // The same people, in another order: the same conversation.
    await openGroup(page, general);
    const again = await open(['carol', 'bob'], 'pick');
    assert.equal(again, id);
    assert.equal(await H.dmsNav(page).getByRole('link').count(), before + 1);
    await H.messageTexts(page, 'three of us').waitFor();
  });

  test('installable: the manifest parses; the service worker caches /static/ only, never /api', async () => {
    const page = bob.page;
    const manifest = await page.evaluate(async () => {
      const link = document.querySelector('link[rel="manifest"]');
      const r = await fetch(link.href);
      return { type: r.headers.get('content-type'), body: await r.json() };
    });
    assert.match(manifest.type, /manifest\+json/);
    assert.equal(manifest.body.start_url, '/chat');
    assert.equal(manifest.body.display, 'standalone');
    assert.ok(manifest.body.name && manifest.body.short_name && manifest.body.theme_color);
    const sizes = manifest.body.icons.map((i) => `${i.sizes} ${i.purpose}`);
    assert.ok(sizes.includes('192x192 any') && sizes.includes('512x512 any') && sizes.includes('512x512 maskable'), sizes.join());
    for (const icon of manifest.body.icons) {
      const r = await page.request.get(new URL(icon.src, ctx.url).href);
      assert.equal(r.headers()['content-type'], 'image/png');
    }
    assert.ok(await page.locator('meta[name="theme-color"]').getAttribute('content'));

    const scope = await page.evaluate(async () => (await navigator.serviceWorker.ready).scope);
    assert.equal(scope, `${ctx.url}/`);
    // Controlled after a reload: the page's assets go through the worker.
    await page.reload();
    await H.waitLive(page, 'bob');
    await page.waitForFunction(() => !!navigator.serviceWorker.controller);
    await page.evaluate(() => Promise.all([fetch('/api/groups'), fetch('/api/dms'), fetch('/api/me'),
      fetch('/static/css/app.css')]));
    await H.send(page, 'cached? never');
    const cached = await page.evaluate(async () => {
      const out = [];
      for (const name of await caches.keys()) {
        const cache = await caches.open(name);
        for (const req of await cache.keys()) out.push(new URL(req.url).pathname);
      }
      return out;
    });
    assert.ok(cached.length > 0, 'the shell is cached');
    assert.ok(cached.includes('/static/js/app.js'), cached.join());
    assert.deepEqual(cached.filter((p) => !p.startsWith('/static/')), [], 'only /static/ is cached');
  });

  test('the Admin link is there for admins only', async () => {
    const me = await alice.page.evaluate(() => fetch('/api/me').then((r) => r.json()));
    assert.equal(me.admin, true, 'the first account is the admin');
    const link = alice.page.getByRole('link', { name: 'Admin', exact: true });
    assert.equal(await link.getAttribute('href'), '/admin');
    for (const u of [bob, carol]) assert.equal(await u.page.getByRole('link', { name: 'Admin', exact: true }).count(), 0);
    await link.click();
    await alice.page.waitForURL(/\/admin$/);
    await alice.page.goBack();
    await H.waitLive(alice.page, 'alice');
  });

  test('no console errors', async () => {
    await bob2.context.close();
    H.assertNoErrors(ctx.errors);
  });
});

describe('search turned off', () => {
  const ctx = H.usersOnServer('shell-nosearch', ['dora'], {
    args: ['--no-search'], ignore: [H.expectedStatus(404, /^\/api\/search$/)],
  });

  test('the panel says so', async () => {
    const { page } = ctx.users.dora;
    await search(page, 'anything', { expect: 0 });
    const err = page.locator('#search-error');
    await err.waitFor();
    assert.match(await err.textContent(), /Search is turned off/);
    H.assertNoErrors(ctx.errors);
  });
});
