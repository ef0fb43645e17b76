// Closed doors in the browser: a private group is invisible to outsiders;
// its owner adds a member by name and makes him an admin, live on his page;
// an invite link takes a logged-out visitor through registration into the
// group, and a revoked one is a 404; an admin deletes another member's
// message for everyone; a rename reaches the others live; a removed member
// is told so and loses the group; the group is handed on, and its new
// owner deletes it, which ends it for everyone.

import { describe, test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as H from './helpers.mjs';

/** The open group's members list. */
const roster = (page) => page.getByRole('list', { name: 'Members', exact: true });

/** One member's entry in the members list. */
function member(page, username) {
  return roster(page).getByRole('listitem')
    .filter({ has: page.locator('.uname', { hasText: new RegExp(`^${H.escapeRe(username)}$`) }) });
}

/** The role a page shows for a member, once it shows `role`. */
async function waitRole(page, username, role) {
  await member(page, username).locator('.role-badge', { hasText: role }).waitFor();
}

/** A system line in the log (not a member's message). */
const systemLine = (page, text) => H.log(page).locator('.sys .sys-entry', { hasText: text });

/** A group's link in the sidebar. */
const groupLink = (page, name) => H.groupsNav(page).getByRole('link', { name: new RegExp(`^${H.escapeRe(name)}(\\s|$)`) });

/**
 * Runs in the page before its scripts: WebSockets that are listed in
 * `window.__sockets` (so a test can cut them), and whose `close` event (on
 * a group socket) or `removed` notice (on `/ws`) can be held back for
 * `window.__wsDelay.chatClose` / `.notice` ms, to choose which comes first.
 */
function instrumentSockets() {
  const Native = window.WebSocket;
  window.__wsDelay = { chatClose: 0, notice: 0 };
  window.__sockets = [];
  const later = (ms, fn) => (ms ? setTimeout(fn, ms) : fn());
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      window.__sockets.push(this);
    }

    get onclose() {
      return super.onclose;
    }

    set onclose(fn) {
      super.onclose = typeof fn !== 'function' ? fn
        : (ev) => later(this.url.includes('/ws/chat/') ? window.__wsDelay.chatClose : 0, () => fn.call(this, ev));
    }

    get onmessage() {
      return super.onmessage;
    }

    set onmessage(fn) {
      super.onmessage = typeof fn !== 'function' ? fn : (ev) => {
        let ms = 0;
        if (!this.url.includes('/ws/chat/') && /"type":"removed"/.test(ev.data)) ms = window.__wsDelay.notice;
        later(ms, () => fn.call(this, ev));
      };
    }
  };
}

describe('private groups, roles, invites and moderation', () => {
  // A request already on its way when the group is deleted (a members
  // refresh after a role change, a read position) is answered 404: right,
  // and a race the last test cannot always avoid on a loaded machine.
  const ctx = H.usersOnServer('groups', ['alice', 'bob'], {
    ignore: [H.expectedStatus(404, /^\/api\/groups\/\d+(\/|$)/)],
  });
  let alice;
  let bob;
  let carol;
  let groupId;
  let inviteUrl;
  before(async () => {
    ({ alice, bob } = ctx.users);
    for (const u of [alice, bob]) {
      await u.context.addInitScript(instrumentSockets);
      await u.page.reload();
      await H.waitLive(u.page, u.username);
    }
  });

  test('a private group created by alice is not listed for bob', async () => {
    // Ticking End-to-end encrypted ticks Private; the user may untick it again.
    const e2e = alice.page.getByLabel('End-to-end encrypted', { exact: true });
    const priv = alice.page.getByLabel('Private', { exact: true });
    assert.equal(await priv.isChecked(), false);
    await e2e.check();
    assert.equal(await priv.isChecked(), true);
    await priv.uncheck();
    await e2e.uncheck();

    groupId = await H.createGroup(alice.page, 'hideout', { private: true });
    await groupLink(alice.page, 'hideout').getByRole('img', { name: 'Private group' }).waitFor();
    await alice.page.locator('#conv-title').getByRole('img', { name: 'Private group' }).waitFor();
    // A public group made just after: once bob's page lists it live, it would
    // have listed the private one too (same socket, earlier frame).
    await H.createGroup(alice.page, 'lobby');
    await H.groupsNav(bob.page).getByRole('listitem').filter({ hasText: 'lobby' }).waitFor();
    assert.equal(await H.groupsNav(bob.page).getByText('hideout').count(), 0);
    assert.equal(await H.groupsNav(bob.page).getByRole('img', { name: 'Private group' }).count(), 0);
    // Nor after a reload, nor by its address: it answers like no group at all.
    await bob.page.goto(`/chat#group-${groupId}`);
    await H.waitLive(bob.page, 'bob');
    await bob.page.getByRole('heading', { name: 'Conversation not found' }).waitFor();
    assert.equal(await H.groupsNav(bob.page).getByText('hideout').count(), 0);
    const members = await bob.context.request.get(`/api/groups/${groupId}/members`);
    assert.equal(members.status(), 404);
  });

  test('alice adds bob by name, live on his page, and makes him an admin', async () => {
    // bob joins the public lobby, which alice has open: her members list shows him.
    await waitRole(alice.page, 'alice', 'owner');
    await H.groupsNav(bob.page).getByRole('listitem').filter({ hasText: 'lobby' }).getByRole('button', { name: 'Join' }).click();
    await bob.page.waitForFunction(() => /^#group-\d+$/.test(window.location.hash) && document.querySelector('#conv-title .conv-name')?.textContent === 'lobby');
    await waitRole(alice.page, 'bob', 'member');
    // alice is the owner of hideout; bob's page stays in the lobby.
    await groupLink(alice.page, 'hideout').click();
    await H.log(alice.page).locator('.log-top.start').waitFor();
    await waitRole(alice.page, 'alice', 'owner');
    assert.equal(await member(alice.page, 'bob').count(), 0);

    await alice.page.getByLabel('Add member').fill('bob');
    await alice.page.getByRole('button', { name: 'Add', exact: true }).click();
    // bob's sidebar shows the group without a reload, with its private mark.
    await groupLink(bob.page, 'hideout').getByRole('img', { name: 'Private group' }).waitFor();
    await waitRole(alice.page, 'bob', 'member');
    // The stored system line shows as one, not as a message from alice.
    await systemLine(alice.page, 'alice added bob').waitFor();
    assert.equal(await H.log(alice.page).locator('.msg', { hasText: 'alice added bob' }).count(), 0);
    // The live line is kept by its id: a reconnect's replay does not show it again.
    await alice.page.evaluate(() => window.__sockets.filter((ws) => ws.url.includes('/ws/chat/')).forEach((ws) => ws.close()));
    await H.send(alice.page, 'back after a reconnect');
    assert.equal(await systemLine(alice.page, 'alice added bob').count(), 1);

    // bob opens it: a plain member sees the list but no moderation tools.
    await groupLink(bob.page, 'hideout').click();
    await waitRole(bob.page, 'alice', 'owner');
    await waitRole(bob.page, 'bob', 'member');
    await systemLine(bob.page, 'alice added bob').waitFor();
    assert.equal(await bob.page.getByLabel('Add member').isVisible(), false);
    assert.equal(await bob.page.getByRole('button', { name: 'Create invite link' }).count(), 0);

    // alice makes him an admin: his panel gains the admin tools live.
    await member(alice.page, 'bob').getByRole('button', { name: 'Make bob admin' }).click();
    await waitRole(alice.page, 'bob', 'admin');
    await waitRole(bob.page, 'bob', 'admin');
    await systemLine(bob.page, 'alice made bob an admin').waitFor();
    await bob.page.getByLabel('Add member').waitFor({ state: 'visible' });
    await bob.page.getByRole('button', { name: 'Create invite link' }).waitFor();
    await bob.page.getByLabel('Rename group').waitFor({ state: 'visible' });
    // Only what an admin may do: not remove or demote the owner, not delete the group.
    assert.equal(await member(bob.page, 'alice').getByRole('button').count(), 0);
    assert.equal(await bob.page.getByRole('button', { name: 'Delete group' }).count(), 0);
    // The owner may: bob has Make member, Make owner and Remove.
    for (const name of ['Make bob a member', 'Make bob owner', 'Remove bob']) {
      await member(alice.page, 'bob').getByRole('button', { name }).waitFor();
    }
  });

  test('an invite link takes a logged-out visitor through registration into the group', async () => {
    await alice.page.getByLabel('Max uses').fill('2');
    await alice.page.getByLabel('Expires').selectOption({ label: '1 day' });
    await alice.page.getByRole('button', { name: 'Create invite link' }).click();
    const links = alice.page.getByRole('list', { name: 'Invite links' });
    const entry = links.getByRole('listitem').filter({ hasText: '0 of 2 uses' });
    await entry.waitFor();
    assert.match(await entry.textContent(), /expires in (24 hours|1 day)/);
    inviteUrl = await entry.getByRole('textbox', { name: 'Invite link' }).inputValue();
    assert.match(inviteUrl, new RegExp(`^${H.escapeRe(ctx.url)}/invite/[0-9a-f]{32}$`));

    // carol has no account and no session.
    const context = await ctx.browser.newContext({ baseURL: ctx.url, viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    H.watchErrors(page, ctx.errors);
    await page.goto(inviteUrl);
    await page.getByRole('heading', { name: /You are invited to hideout/ }).waitFor();
    await page.getByRole('link', { name: 'Create an account' }).click();
    await page.waitForURL(/\/register\?next=/);
    await page.getByLabel('Username').fill('carol');
    await page.getByLabel('Password').fill('correct horse battery');
    await page.getByRole('button', { name: 'Register' }).click();
    // Back to the invite, now logged in.
    await page.waitForURL(inviteUrl);
    await page.getByRole('button', { name: 'Join group' }).click();
    await page.waitForURL(new RegExp(`/chat#group-${groupId}$`));
    carol = { context, page, username: 'carol' };
    await page.locator('#conv-title .conv-name', { hasText: 'hideout' }).waitFor();
    await H.waitLive(page, 'carol');
    await waitRole(page, 'carol', 'member');

    // alice sees her come in, in the log, the members list and the use count.
    await systemLine(alice.page, 'carol joined with an invite link').waitFor();
    await waitRole(alice.page, 'carol', 'member');
    await links.getByRole('listitem').filter({ hasText: '1 of 2 uses' }).waitFor();

    // Revoked, the link is a 404 page that says so.
    await links.getByRole('listitem').filter({ hasText: '1 of 2 uses' }).getByRole('button', { name: /^Revoke/ }).click();
    await links.getByText('No invite links yet.').waitFor();
    const stranger = await ctx.browser.newContext({ baseURL: ctx.url });
    const gone = await stranger.newPage();
    const res = await gone.goto(inviteUrl);
    assert.equal(res.status(), 404);
    await gone.getByRole('alert').filter({ hasText: /not valid/ }).waitFor();
    assert.equal(await gone.getByRole('button', { name: 'Join group' }).count(), 0);
    await stranger.close();
  });

  test('an admin deletes another member\'s message; it disappears for both', async () => {
    // An admin removes plain members only.
    await member(bob.page, 'carol').getByRole('button', { name: 'Remove carol' }).waitFor();
    assert.equal(await member(bob.page, 'carol').getByRole('button', { name: /^Make/ }).count(), 0);
    await H.send(carol.page, 'a message the admin will take down');
    const onBob = H.log(bob.page).locator('.msg', { hasText: 'a message the admin will take down' });
    await onBob.waitFor();
    // carol, a plain member, cannot delete bob's messages (nor edit anyone's but hers).
    await H.send(bob.page, 'bob was here');
    const bobsOnCarol = H.log(carol.page).locator('.msg', { hasText: 'bob was here' });
    await bobsOnCarol.waitFor();
    assert.equal(await bobsOnCarol.getByRole('button', { name: 'Delete' }).count(), 0);
    // bob (admin) has Delete on carol's message, but no Edit.
    await onBob.hover();
    assert.equal(await onBob.getByRole('button', { name: 'Edit' }).count(), 0);
    await onBob.getByRole('button', { name: 'Delete' }).click();
    const confirm = onBob.getByRole('group', { name: 'Confirm deletion' });
    assert.match(await confirm.textContent(), /carol's message/);
    await confirm.getByRole('button', { name: 'Delete' }).click();
    await onBob.waitFor({ state: 'detached' });
    // carol is told who deleted it, then it goes.
    await H.log(carol.page).getByText('Message deleted by bob').waitFor();
    await H.messageTexts(carol.page, 'a message the admin will take down').waitFor({ state: 'detached' });
    await H.log(carol.page).getByText('Message deleted by bob').waitFor({ state: 'detached' });
    await H.messageTexts(alice.page, 'a message the admin will take down').waitFor({ state: 'detached' });
  });

  test('a rename reaches the other browsers live', async () => {
    // carol looks at another group meanwhile; bob has it open.
    await H.groupsNav(carol.page).getByRole('listitem').filter({ hasText: 'lobby' }).getByRole('button', { name: 'Join' }).click();
    await carol.page.locator('#conv-title .conv-name', { hasText: 'lobby' }).waitFor();
    const rename = alice.page.getByLabel('Rename group');
    assert.equal(await rename.inputValue(), 'hideout');
    await rename.fill('den');
    await alice.page.getByRole('button', { name: 'Save', exact: true }).click();
    await alice.page.locator('#conv-title .conv-name', { hasText: /^den$/ }).waitFor();
    await bob.page.locator('#conv-title .conv-name', { hasText: /^den$/ }).waitFor();
    await systemLine(bob.page, 'alice renamed the group to den').waitFor();
    await groupLink(bob.page, 'den').waitFor();
    await groupLink(carol.page, 'den').waitFor();
    assert.equal(await H.groupsNav(carol.page).getByText('hideout').count(), 0);
    assert.equal(await H.composer(bob.page).getAttribute('placeholder'), 'Message #den');
    await bob.page.waitForFunction(() => document.title.includes('#den'));
  });

  test('a removed member is told so live, whichever comes first: the notice or the socket\'s close', async () => {
    // bob's page holds back either of the two signals a removal sends.
    await waitRole(bob.page, 'bob', 'admin');
    const removed = bob.page.getByRole('heading', { name: 'You were removed from #den' });

    // 1. The `removed` notice first (the group socket's 4403 held back).
    await bob.page.evaluate(() => { window.__wsDelay = { chatClose: 800, notice: 0 }; });
    await member(alice.page, 'bob').getByRole('button', { name: 'Remove bob' }).click();
    await removed.waitFor({ timeout: 5000 });
    await groupLink(bob.page, 'den').waitFor({ state: 'detached' });
    assert.equal(await H.composer(bob.page).isVisible(), false);
    await member(alice.page, 'bob').waitFor({ state: 'detached' });
    await systemLine(alice.page, 'bob was removed').waitFor();
    await bob.page.waitForTimeout(1000); // the late close changes nothing
    assert.ok(await removed.isVisible());
    // A private group: nothing to join from outside.
    assert.equal(await bob.page.getByRole('button', { name: 'Join group' }).count(), 0);

    // Added again while he looks at it, it opens again.
    await alice.page.getByLabel('Add member').fill('bob');
    await alice.page.getByRole('button', { name: 'Add', exact: true }).click();
    await H.composer(bob.page).waitFor();
    await waitRole(bob.page, 'bob', 'member');

    // 2. The socket's close first (the notice held back): the page first says
    // the membership ended, then who ended it.
    await bob.page.evaluate(() => { window.__wsDelay = { chatClose: 0, notice: 800 }; });
    await member(alice.page, 'bob').getByRole('button', { name: 'Remove bob' }).click();
    await bob.page.getByText('You are no longer a member of this group.').waitFor({ timeout: 5000 });
    await removed.waitFor({ timeout: 5000 });
    await groupLink(bob.page, 'den').waitFor({ state: 'detached' });
    assert.equal(await H.composer(bob.page).isVisible(), false);

    // Gone after a reload too.
    await bob.page.evaluate(() => { window.__wsDelay = { chatClose: 0, notice: 0 }; });
    await bob.page.reload();
    await H.waitLive(bob.page, 'bob');
    await bob.page.getByRole('heading', { name: 'Conversation not found' }).waitFor();
  });

  test('the owner hands the group on; the new owner deletes it, and it ends for the others', async () => {
    await groupLink(carol.page, 'den').click();
    await carol.page.locator('#conv-title .conv-name', { hasText: /^den$/ }).waitFor();
    await H.log(carol.page).locator('.log-top.start').waitFor();
    assert.equal(await carol.page.getByRole('button', { name: 'Delete group' }).count(), 0);
    // Handing on asks first.
    await member(alice.page, 'carol').getByRole('button', { name: 'Make carol owner' }).click();
    const handOn = alice.page.getByRole('group', { name: 'Confirm new owner' });
    assert.match(await handOn.textContent(), /Make carol the owner of #den\? You will become an admin\./);
    await handOn.getByRole('button', { name: 'Make owner' }).click();
    await waitRole(alice.page, 'carol', 'owner');
    await waitRole(alice.page, 'alice', 'admin');
    await systemLine(carol.page, 'alice made carol the owner').waitFor();
    await waitRole(carol.page, 'carol', 'owner');
    // alice, now an admin, is no longer offered Delete group; carol is.
    await alice.page.getByRole('button', { name: 'Delete group' }).waitFor({ state: 'hidden' });
    await carol.page.getByRole('button', { name: 'Delete group' }).click();
    const confirm = carol.page.getByRole('group', { name: 'Confirm group deletion' });
    await confirm.getByRole('button', { name: 'Cancel' }).click();
    await confirm.waitFor({ state: 'detached' });
    await carol.page.getByRole('button', { name: 'Delete group' }).click();
    assert.match(await confirm.textContent(), /Delete #den and all its messages for everyone\?/);
    await confirm.getByRole('button', { name: 'Delete group' }).click();
    await carol.page.getByRole('heading', { name: '#den was deleted' }).waitFor();
    await alice.page.getByRole('heading', { name: '#den was deleted' }).waitFor({ timeout: 5000 });
    for (const u of [alice, carol]) await groupLink(u.page, 'den').waitFor({ state: 'detached' });
    await carol.context.close();
  });

  test('no console errors', () => {
    H.assertNoErrors(ctx.errors);
  });
});
