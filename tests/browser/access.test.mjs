// Access that holds while a page is open: when a session ends elsewhere
// (here, a password change in another browser), the open page's sockets
// are closed by the server (4401) and the page shows the login form with
// a short explanation; a member removed from a group (here, leaving it in
// another tab) sees the group's conversation end.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as H from './helpers.mjs';

describe('sessions and memberships that end while a page is open', () => {
  const ctx = H.usersOnServer('access', ['alice', 'bob']);

  test('a password changed elsewhere logs the other browser out, saying why', async () => {
    const { alice } = ctx.users;
    // alice's second browser: another session.
    const laptop = await H.logIn(ctx.browser, ctx.url, 'alice', { errors: ctx.errors });
    // The first browser changes the password; every other session ends.
    await alice.page.goto('/account');
    await alice.page.getByLabel('Current password').fill('correct horse battery');
    await alice.page.getByLabel('New password').fill('a new horse battery');
    const started = Date.now();
    await alice.page.getByRole('button', { name: 'Change password' }).click();
    await alice.page.getByRole('status').filter({ hasText: 'Password changed' }).waitFor();
    // The second browser, without any action of its own, lands on the login page.
    await laptop.page.waitForURL(/\/login\?ended=1$/, { timeout: 5000 });
    const took = Date.now() - started;
    const alert = laptop.page.getByRole('alert');
    await alert.filter({ hasText: 'Your session ended' }).waitFor();
    assert.match(await alert.textContent(), /log in again/i);
    assert.ok(await laptop.page.getByRole('button', { name: 'Log in' }).isVisible());
    assert.ok(took < 4000, `logged out after ${took} ms`);
    await laptop.context.close();
  });

  test('leaving a group in one tab ends its conversation in the other', async () => {
    const { alice } = ctx.users;
    await alice.page.goto('/chat');
    await H.waitLive(alice.page, 'alice');
    const id = await H.createGroup(alice.page, 'standup');
    const tab = await alice.context.newPage();
    H.watchErrors(tab, ctx.errors);
    await tab.goto(`/chat#group-${id}`);
    await H.composer(tab).waitFor();
    await H.send(tab, 'morning');
    // The group's only member cannot leave it (she would have to delete
    // it), so bob joins first and becomes its owner when she leaves.
    const joined = await ctx.users.bob.page.evaluate(async (g) => {
      const csrf = document.querySelector('meta[name="csrf-token"]').content;
      const r = await fetch(`/api/groups/${g}/join`, { method: 'POST', headers: { 'X-CSRF-Token': csrf } });
      return r.status;
    }, id);
    assert.equal(joined, 200);
    // Leave from the first tab, through the API the page uses.
    const status = await alice.page.evaluate(async (g) => {
      const csrf = document.querySelector('meta[name="csrf-token"]').content;
      const r = await fetch(`/api/groups/${g}/leave`, { method: 'POST', headers: { 'X-CSRF-Token': csrf } });
      return r.status;
    }, id);
    assert.equal(status, 204);
    await tab.getByText('You are no longer a member of this group.').waitFor({ timeout: 5000 });
    await tab.close();
  });

  test('no console errors', () => H.assertNoErrors(ctx.errors));
});
