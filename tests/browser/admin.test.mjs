// Server administration in the browser: the /admin page (users, reset
// links, server invites, the registration mode) and the account pages it
// changes: a disabled account is logged out of its open page and cannot
// log in; a reset link sets a password once; registration by invite and
// closed registration.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as H from './helpers.mjs';

const PASSWORD = 'correct horse battery';

/** A fresh, logged-out browser context whose console errors count. */
async function visitor(ctx, ignore, viewport = { width: 1280, height: 800 }) {
  const context = await ctx.browser.newContext({ baseURL: ctx.url, viewport });
  const page = await context.newPage();
  H.watchErrors(page, ctx.errors, ignore);
  return { context, page };
}

/** Fills the `login` or `register` form and sends it; resolves to the POST's response. */
async function submit(page, form, username, password = PASSWORD) {
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(password);
  const [res] = await Promise.all([
    page.waitForResponse((r) => r.request().method() === 'POST' && new URL(r.url()).pathname === `/${form}`),
    page.getByRole('button', { name: form === 'login' ? 'Log in' : 'Register' }).click(),
  ]);
  return res;
}
const submitLogin = (page, username, password) => submit(page, 'login', username, password);
const submitRegister = (page, username) => submit(page, 'register', username);

const usersTable = (page) => page.getByRole('table', { name: 'Users' });
const userRow = (page, name) => usersTable(page).getByRole('row').filter({
  has: page.getByRole('rowheader').filter({ hasText: new RegExp(`^${H.escapeRe(name)}(\\s|$)`) }),
});
/** The row's cell under `column` (cells are in header order). */
async function cell(page, name, column) {
  const headers = await usersTable(page).getByRole('columnheader').allTextContents();
  return (await userRow(page, name).getByRole('cell').nth(headers.indexOf(column) - 1).textContent()).trim();
}

/** Clicks a user action that asks first, and answers the dialog. */
async function confirmAction(page, label, answer) {
  await page.getByRole('button', { name: label, exact: true }).click();
  const dialog = page.getByRole('dialog');
  await dialog.waitFor();
  await dialog.getByRole('button', { name: answer === 'yes' ? label : 'Cancel', exact: true }).click();
  await dialog.waitFor({ state: 'hidden' });
}

describe('the admin page', () => {
  const ignore = [
    H.expectedStatus(403, /^\/admin$/),
    H.expectedStatus(401, /^\/login$/),
    H.expectedStatus(404, /^\/reset\//),
    H.expectedStatus(409, /^\/api\/admin\/users\/alice\/demote$/),
  ];
  const ctx = H.usersOnServer('admin', ['alice', 'bob'], { ignore });

  test('the first user is a server admin and sees every user; others get 403', async () => {
    const { alice, bob } = ctx.users;
    await alice.page.goto('/admin');
    await userRow(alice.page, 'bob').waitFor();
    assert.equal(await userRow(alice.page, 'alice').count(), 1);
    assert.equal(await cell(alice.page, 'alice', 'Admin'), 'yes');
    assert.equal(await cell(alice.page, 'bob', 'Admin'), 'no');
    assert.equal(await cell(alice.page, 'bob', 'Disabled'), 'no');
    assert.equal(await cell(alice.page, 'bob', 'Sessions'), '1');
    for (const name of ['Disable bob', 'Promote bob', 'Reset link for bob', 'Demote alice']) {
      assert.ok(await alice.page.getByRole('button', { name, exact: true }).isVisible(), name);
    }
    assert.equal(await alice.page.getByLabel('Who may make an account').inputValue(), 'open');

    const res = await bob.page.goto('/admin');
    assert.equal(res.status(), 403);
    await bob.page.getByText('This page is for server admins.').waitFor();
    assert.equal(await usersTable(bob.page).count(), 0);
    await bob.page.goto('/chat');
    await H.waitLive(bob.page, 'bob');
  });

  test('at 360 px wide, in the dark theme, nothing overflows and every action is on screen', async () => {
    const { alice } = ctx.users;
    await alice.page.setViewportSize({ width: 360, height: 740 });
    await alice.page.emulateMedia({ colorScheme: 'dark' });
    await alice.page.evaluate(() => localStorage.removeItem('theme'));
    try {
      await alice.page.goto('/admin');
      assert.equal(await alice.page.evaluate(() => document.documentElement.dataset.theme), 'dark');
      const [scroll, client] = await alice.page.evaluate(() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]);
      assert.ok(scroll <= client, `page is ${scroll} px wide in a ${client} px window`);
      for (const name of ['Disable bob', 'Promote bob', 'Reset link for bob', 'Save registration mode', 'Create server invite']) {
        const box = await alice.page.getByRole('button', { name, exact: true }).boundingBox();
        assert.ok(box && box.x >= 0 && box.x + box.width <= client, `${name} at ${JSON.stringify(box)}`);
      }
      // The sections follow the theme's colours (dark panel, light text).
      const [bg, fg] = await alice.page.locator('.admin-section').first()
        .evaluate((el) => [getComputedStyle(el).backgroundColor, getComputedStyle(el).color]);
      const lum = (c) => c.match(/\d+/g).slice(0, 3).reduce((a, b) => a + Number(b), 0) / 3;
      assert.ok(lum(bg) < 80 && lum(fg) > 180, `section colours ${bg} on ${fg}`);
    } finally {
      await alice.page.setViewportSize({ width: 1280, height: 800 });
      await alice.page.emulateMedia({ colorScheme: 'light' });
    }
  });

  test('disabling bob (after confirming) ends his open page; he cannot log in until enabled', async () => {
    const { alice, bob } = ctx.users;
    await bob.page.goto('/chat');
    await H.waitLive(bob.page, 'bob');
    await alice.page.goto('/admin');

    // Cancelling changes nothing.
    await confirmAction(alice.page, 'Disable bob', 'no');
    assert.equal(await cell(alice.page, 'bob', 'Disabled'), 'no');
    assert.match(bob.page.url(), /\/chat$/);

    await confirmAction(alice.page, 'Disable bob', 'yes');
    await alice.page.getByRole('status').filter({ hasText: 'bob: disabled.' }).waitFor();
    assert.equal(await cell(alice.page, 'bob', 'Disabled'), 'yes');
    assert.equal(await cell(alice.page, 'bob', 'Sessions'), '0');
    // Focus is back on the row's button, which now enables.
    assert.equal(await alice.page.evaluate(() => document.activeElement.getAttribute('aria-label')), 'Enable bob');

    // bob's open chat page lands on the login page, saying why.
    await bob.page.waitForURL(/\/login\?ended=1$/, { timeout: 5000 });
    await bob.page.getByRole('alert').filter({ hasText: 'Your session ended' }).waitFor();
    let res = await submitLogin(bob.page, 'bob', PASSWORD);
    assert.equal(res.status(), 401);
    assert.equal((await bob.page.getByRole('alert').textContent()).trim(), 'Invalid username or password.');

    await alice.page.getByRole('button', { name: 'Enable bob', exact: true }).click();
    await alice.page.getByRole('status').filter({ hasText: 'bob: enabled.' }).waitFor();
    assert.equal(await cell(alice.page, 'bob', 'Disabled'), 'no');
    res = await submitLogin(bob.page, 'bob', PASSWORD);
    assert.equal(res.status(), 303);
    await bob.page.waitForURL(/\/chat$/);
    await H.waitLive(bob.page, 'bob');
  });

  test('a reset link sets bob\'s password once', async () => {
    const { alice, bob } = ctx.users;
    await alice.page.goto('/admin');
    await alice.page.getByRole('button', { name: 'Reset link for bob', exact: true }).click();
    const field = alice.page.getByRole('textbox', { name: 'One-time reset link for bob' });
    await field.waitFor();
    const link = await field.inputValue();
    assert.match(link, new RegExp(`^${H.escapeRe(ctx.url)}/reset/[0-9a-f]{32,}$`));
    assert.equal(await field.getAttribute('readonly'), '');
    assert.equal(await alice.page.evaluate(() => document.activeElement.id), 'reset-url');

    const fresh = await visitor(ctx, ignore);
    const { page } = fresh;
    // The link open in two tabs: only the first form sent counts.
    const tab = await fresh.context.newPage();
    H.watchErrors(tab, ctx.errors, ignore);
    for (const p of [page, tab]) {
      await p.goto(link);
      await p.getByRole('heading', { name: 'Set a new password for bob' }).waitFor();
    }
    await page.getByLabel('New password').fill('a brand new password');
    await page.getByRole('button', { name: 'Set password' }).click();
    await page.getByRole('status').filter({ hasText: 'The password of bob is set' }).waitFor();
    await tab.getByLabel('New password').fill('the second password');
    const [late] = await Promise.all([
      tab.waitForResponse((r) => r.request().method() === 'POST'),
      tab.getByRole('button', { name: 'Set password' }).click(),
    ]);
    assert.equal(late.status(), 404);
    await tab.getByText('This reset link is no longer valid').waitFor();
    await tab.close();
    // Every session of bob's ended: his open page is on the login form.
    await bob.page.waitForURL(/\/login\?ended=1$/, { timeout: 5000 });

    await page.getByRole('link', { name: 'Log in' }).click();
    assert.equal((await submitLogin(page, 'bob', PASSWORD)).status(), 401);
    assert.equal((await submitLogin(page, 'bob', 'the second password')).status(), 401);
    assert.equal((await submitLogin(page, 'bob', 'a brand new password')).status(), 303);
    await page.waitForURL(/\/chat$/);
    await H.waitLive(page, 'bob');

    // Used once: the link is gone.
    const again = await page.goto(link);
    assert.equal(again.status(), 404);
    await page.getByText('This reset link is no longer valid').waitFor();
    assert.equal(await page.getByLabel('New password').count(), 0);
    ctx.users.bob = { ...bob, ...fresh };
    await bob.context.close();
  });

  test('the last admin cannot demote themselves: the alert gives the server\'s reason', async () => {
    const { alice } = ctx.users;
    await alice.page.goto('/admin');
    await confirmAction(alice.page, 'Demote alice', 'yes');
    const alert = alice.page.getByRole('alert');
    await alert.filter({ hasText: 'This is the last server admin: make someone else an admin first.' }).waitFor();
    assert.equal(await cell(alice.page, 'alice', 'Admin'), 'yes');
    await alice.page.reload();
    assert.equal(await cell(alice.page, 'alice', 'Admin'), 'yes');
  });

  test('promoting bob opens /admin to him; demoting him (after confirming) closes it', async () => {
    const { alice, bob } = ctx.users;
    await alice.page.goto('/admin');
    await alice.page.getByRole('button', { name: 'Promote bob', exact: true }).click();
    await alice.page.getByRole('status').filter({ hasText: 'bob: now a server admin.' }).waitFor();
    assert.equal(await cell(alice.page, 'bob', 'Admin'), 'yes');
    assert.equal((await bob.page.goto('/admin')).status(), 200);
    await userRow(bob.page, 'alice').waitFor();

    await confirmAction(alice.page, 'Demote bob', 'yes');
    await alice.page.getByRole('status').filter({ hasText: 'bob: no longer a server admin.' }).waitFor();
    assert.equal(await cell(alice.page, 'bob', 'Admin'), 'no');
    assert.equal((await bob.page.goto('/admin')).status(), 403);
  });

  test('Log in and Create an account on an invite page come back to it; an off-site next does not', async () => {
    const { alice } = ctx.users;
    await alice.page.goto('/chat');
    await H.waitLive(alice.page, 'alice');
    const link = await alice.page.evaluate(async () => {
      const csrf = document.querySelector('meta[name="csrf-token"]').content;
      const headers = { 'X-CSRF-Token': csrf, 'Content-Type': 'application/json' };
      const post = async (path, body) => (await fetch(path, { method: 'POST', headers, body: JSON.stringify(body) })).json();
      const group = await post('/api/groups', { name: 'book club', private: true });
      return (await post(`/api/groups/${group.id}/invites`, {})).url;
    });
    for (const [button, name] of [['Create an account', 'gina'], ['Log in', 'bob']]) {
      const { page, context } = await visitor(ctx, ignore);
      await page.goto(link);
      await page.getByRole('link', { name: button }).click({ timeout: 3000 });
      await submit(page, button === 'Log in' ? 'login' : 'register', name, name === 'bob' ? 'a brand new password' : PASSWORD);
      await page.waitForURL((u) => u.pathname === new URL(link, ctx.url).pathname);
      await page.getByRole('button', { name: 'Join group' }).click();
      await page.waitForURL(/\/chat#group-\d+$/);
      await H.waitLive(page, name);
      await H.groupsNav(page).getByText('book club').waitFor();
      await context.close();
    }
    const { page, context } = await visitor(ctx, ignore);
    await page.goto('/login?next=//example.com/x');
    await submitLogin(page, 'bob', 'a brand new password');
    await page.waitForURL(`${ctx.url}/chat`);
    await context.close();
  });

  test('no console errors', () => H.assertNoErrors(ctx.errors));
});

describe('registration by invite', () => {
  const ignore = [H.expectedStatus(403, /^\/register$/)];
  // In invite mode nobody can register without a code, so the first
  // account (a server admin) comes from the command line.
  const ctx = H.usersOnServer('admin-invite', [], { accounts: ['alice'], args: ['--registration', 'invite'], ignore });

  /** Creates a server invite on /admin; resolves to its full link. */
  async function createInvite(page, uses) {
    await page.goto('/admin');
    if (uses) await page.getByLabel('Uses (empty: unlimited)').fill(String(uses));
    await page.getByRole('button', { name: 'Create server invite' }).click();
    await page.getByRole('status').filter({ hasText: 'Server invite created' }).waitFor();
    // The new invite's link is focused, full URL, ready to copy.
    return page.evaluate(() => document.activeElement.value);
  }

  const REFUSED = 'Registration is by invitation: this invite code is missing, expired, used up or revoked.';

  test('a visitor with an invite link registers; the code is prefilled', async () => {
    const { alice } = ctx.users;
    await alice.page.goto('/admin');
    assert.equal(await alice.page.getByLabel('Who may make an account').inputValue(), 'invite');
    const link = await createInvite(alice.page, 1);
    const code = new URL(link).searchParams.get('invite');
    assert.match(link, new RegExp(`^${H.escapeRe(ctx.url)}/register\\?invite=[0-9a-f]{32,}$`));
    const row = alice.page.getByRole('table', { name: 'Server invites' }).getByRole('row').filter({ hasText: '0 of 1' });
    await row.getByRole('button', { name: `Revoke invite ${code}` }).waitFor();

    const carol = await visitor(ctx, ignore);
    await carol.page.goto(link);
    assert.equal(await carol.page.getByLabel('Invite code').inputValue(), code);
    const res = await submitRegister(carol.page, 'carol');
    assert.equal(res.status(), 303);
    await carol.page.waitForURL(/\/chat$/);
    await H.waitLive(carol.page, 'carol');

    // Used up: it shows as such, and it refuses the next visitor.
    await alice.page.reload();
    await alice.page.getByRole('row').filter({ hasText: '1 of 1 used up' }).waitFor();
    const dave = await visitor(ctx, ignore);
    await dave.page.goto(link);
    assert.equal((await submitRegister(dave.page, 'dave')).status(), 403);
    assert.equal((await dave.page.getByRole('alert').textContent()).trim(), REFUSED);
    await carol.context.close();
    await dave.context.close();
  });

  test('without a code the form is refused with 403 and says why', async () => {
    const { page, context } = await visitor(ctx, ignore);
    await page.goto('/register');
    await page.getByText('This server is open by invitation').waitFor();
    const invite = page.getByLabel('Invite code');
    assert.equal(await invite.inputValue(), '');
    // The browser asks for the code first; past that check, the server refuses.
    assert.equal(await invite.evaluate((el) => el.validity.valueMissing), true);
    await page.locator('form').evaluate((f) => { f.noValidate = true; });
    const res = await submitRegister(page, 'erin');
    assert.equal(res.status(), 403);
    assert.equal((await page.getByRole('alert').textContent()).trim(), REFUSED);
    assert.equal(await page.getByLabel('Username').inputValue(), 'erin');
    await context.close();
  });

  test('a revoked invite stops working', async () => {
    const { alice } = ctx.users;
    const link = await createInvite(alice.page);
    const code = new URL(link).searchParams.get('invite');
    await alice.page.getByRole('button', { name: `Revoke invite ${code}` }).click();
    await alice.page.getByRole('status').filter({ hasText: 'Invite revoked.' }).waitFor();
    assert.equal(await alice.page.getByRole('button', { name: `Revoke invite ${code}` }).count(), 0);

    const { page, context } = await visitor(ctx, ignore);
    await page.goto(link);
    assert.equal((await submitRegister(page, 'frank')).status(), 403);
    await page.getByRole('alert').filter({ hasText: REFUSED }).waitFor();
    await context.close();
  });

  test('closing registration from the admin page: /register explains, /login offers no sign-up', async () => {
    const { alice } = ctx.users;
    await alice.page.goto('/admin');
    await alice.page.getByLabel('Who may make an account').selectOption('closed');
    await alice.page.getByRole('button', { name: 'Save registration mode' }).click();
    await alice.page.getByRole('status').filter({ hasText: 'Registration saved' }).waitFor();
    assert.equal(await alice.page.getByLabel('Who may make an account').inputValue(), 'closed');

    const { page, context } = await visitor(ctx, ignore);
    const res = await page.goto('/register');
    assert.equal(res.status(), 403);
    await page.getByRole('alert').filter({ hasText: 'accounts are made by its administrator' }).waitFor();
    assert.equal(await page.getByLabel('Username').count(), 0);
    await page.goto('/login');
    assert.equal(await page.getByRole('link', { name: 'Create an account' }).count(), 0);
    await page.getByText('New accounts on this server are made by its administrator.').waitFor();
    await context.close();
  });

  test('no console errors', () => H.assertNoErrors(ctx.errors));
});

describe('closed registration', () => {
  const ignore = [H.expectedStatus(403, /^\/register$/)];
  const ctx = H.usersOnServer('admin-closed', [], { args: ['--registration', 'closed'], ignore });

  test('/register answers 403 with the explanation, also to a posted form', async () => {
    const { page, context } = await visitor(ctx, ignore, { width: 360, height: 740 });
    const res = await page.goto('/register');
    assert.equal(res.status(), 403);
    const alert = page.getByRole('alert');
    assert.match(await alert.textContent(), /Registration is closed on this server: accounts are made by its administrator \(securechat user add\)\./);
    assert.ok(await page.getByRole('link', { name: 'Log in' }).isVisible());
    // A form posted anyway, with a good CSRF token (the login form's: the
    // same cookie), is refused for being closed.
    await page.goto('/login');
    const posted = await page.evaluate(async () => {
      const csrf = document.querySelector('input[name="csrf_token"]').value;
      const body = new URLSearchParams({ username: 'mallory', password: 'long enough pw', csrf_token: csrf });
      const r = await fetch('/register', { method: 'POST', body });
      return { status: r.status, text: await r.text() };
    });
    assert.equal(posted.status, 403);
    assert.match(posted.text, /accounts are made by its administrator/);
    assert.doesNotMatch(posted.text, /form expired/);
    await context.close();
  });

  test('no console errors', () => H.assertNoErrors(ctx.errors));
});
