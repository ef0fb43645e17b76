// Two users register through the forms, create and join a group, chat in
// real time, DM each other, edit and delete; HTML payloads stay text.

import { describe, test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as H from './helpers.mjs';

describe('chat between two browsers', () => {
  const ctx = H.usersOnServer('chat', ['alice', 'bob']);
  let alice;
  let bob;
  let groupId;
  before(() => ({ alice, bob } = ctx.users));

  test('register through the forms (each page links to the other)', async () => {
    const context = await ctx.browser.newContext({ baseURL: ctx.url });
    const page = await context.newPage();
    H.watchErrors(page, ctx.errors);
    await page.goto('/login');
    await page.getByRole('link', { name: 'Create an account' }).click();
    await page.waitForURL(/\/register$/);
    await page.getByRole('link', { name: 'Log in' }).click();
    await page.waitForURL(/\/login$/);
    await context.close();

    for (const u of [alice, bob]) {
      await assert.doesNotReject(u.page.getByRole('button', { name: 'Log out' }).waitFor());
      const badge = u.page.getByLabel('Connection security');
      assert.match(await badge.textContent(), /HTTP/);
    }
  });

  test('a group created by alice appears live for bob, who joins it', async () => {
    groupId = await H.createGroup(alice.page, 'general');
    assert.ok(groupId > 0);
    // Live in bob's sidebar without a reload, with a Join button.
    await H.joinGroup(bob.page, 'general', groupId);
    await H.groupsNav(bob.page).getByRole('link', { name: 'general' }).waitFor();
    // Both are listed in the group's presence list with their IP.
    for (const u of [alice, bob]) {
      const inGroup = u.page.getByRole('list', { name: 'In this group' });
      await inGroup.getByText('alice', { exact: true }).waitFor();
      await inGroup.getByText('bob', { exact: true }).waitFor();
      await inGroup.getByText('127.0.0.1').first().waitFor();
      await u.page.getByRole('list', { name: 'Online', exact: true }).getByText('127.0.0.1').first().waitFor();
    }
  });

  test('messages arrive in real time with HH:MM:SS times', async () => {
    const sentAt = Date.now();
    await H.composer(alice.page).fill('Hello Bob!');
    await H.composer(alice.page).press('Enter');
    const msg = H.log(bob.page).locator('.msg', { hasText: 'Hello Bob!' });
    await msg.waitFor();
    assert.equal(await msg.locator('.author').textContent(), 'alice');
    const time = msg.locator('time');
    const text = await time.textContent();
    assert.match(text, /^\d{2}:\d{2}:\d{2}$/);
    const datetime = await time.getAttribute('datetime');
    assert.match(datetime, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/);
    const at = Date.parse(datetime);
    assert.ok(Math.abs(at - sentAt) < 60000, `${datetime} is near now`);
    // The shown text is the local time of the datetime attribute.
    const local = await bob.page.evaluate((iso) => {
      const d = new Date(iso);
      const p = (n) => String(n).padStart(2, '0');
      return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
    }, datetime);
    assert.equal(text, local);

    // Bob answers with the Send button; Shift+Enter makes a new line.
    await H.composer(bob.page).fill('Hi Alice');
    await bob.page.getByRole('button', { name: 'Send', exact: true }).click();
    await H.log(alice.page).locator('.msg .text', { hasText: 'Hi Alice' }).waitFor();
    await H.composer(bob.page).click();
    await bob.page.keyboard.type('line one');
    await bob.page.keyboard.press('Shift+Enter');
    await bob.page.keyboard.type('line two');
    assert.equal(await H.composer(bob.page).inputValue(), 'line one\nline two');
    await bob.page.keyboard.press('Enter');
    const multi = H.log(alice.page).locator('.msg .text', { hasText: 'line two' });
    await multi.waitFor();
    assert.equal(await multi.textContent(), 'line one\nline two');
    assert.equal(await H.composer(bob.page).inputValue(), '');
  });

  test('typing indicator shows who is typing', async () => {
    await H.composer(bob.page).click();
    // Typing notices go out at most every 2 s: type for longer than that.
    await bob.page.keyboard.type('thinking about it', { delay: 160 });
    await alice.page.getByText('bob is typing…').waitFor();
    await H.composer(bob.page).fill('');
  });

  test('an HTML/script payload is shown as text and never runs', async () => {
    const payload = '<img src=x onerror=window.__xss=1><script>window.__xss=1</script>';
    await H.send(alice.page, payload);
    for (const u of [alice, bob]) {
      const shown = H.messageTexts(u.page, payload);
      await shown.waitFor();
      assert.equal(await shown.count(), 1);
      assert.equal(await H.log(u.page).locator('img, script').count(), 0);
      assert.equal(await u.page.evaluate(() => window.__xss), undefined);
    }
    // Still nothing after a reload (history path rather than live path).
    await bob.page.reload();
    await H.messageTexts(bob.page, payload).waitFor();
    assert.equal(await bob.page.evaluate(() => window.__xss), undefined);
    assert.equal(await H.log(bob.page).locator('img, script').count(), 0);
  });

  test('authors edit and delete their own messages, live for others', async () => {
    await H.send(alice.page, 'tpyo here');
    const mine = H.log(alice.page).locator('.msg', { hasText: 'tpyo here' });
    await mine.hover();
    await mine.getByRole('button', { name: 'Edit' }).click();
    const editor = alice.page.getByRole('textbox', { name: 'Edit text' });
    await editor.fill('typo fixed');
    await editor.press('Enter');
    const theirs = H.log(bob.page).locator('.msg', { hasText: 'typo fixed' });
    await theirs.waitFor();
    await theirs.locator('.edited').waitFor({ state: 'visible' });
    // Others' messages have no edit controls.
    assert.equal(await H.log(alice.page).locator('.msg', { hasText: 'Hi Alice' }).getByRole('button', { name: 'Edit' }).count(), 0);

    const gone = H.log(alice.page).locator('.msg', { hasText: 'typo fixed' });
    await gone.hover();
    await gone.getByRole('button', { name: 'Delete' }).click();
    await gone.getByRole('group', { name: 'Confirm deletion' }).getByRole('button', { name: 'Delete' }).click();
    await H.log(bob.page).locator('.msg', { hasText: 'typo fixed' }).waitFor({ state: 'detached' });
    await H.log(alice.page).locator('.msg', { hasText: 'typo fixed' }).waitFor({ state: 'detached' });
  });

  test('a direct message between the two users, with an unread count', async () => {
    const online = alice.page.getByRole('list', { name: 'Online', exact: true });
    await online.getByRole('button', { name: 'Start DM with bob' }).click();
    await alice.page.locator('#conv-title', { hasText: 'bob' }).waitFor();
    await H.dmsNav(alice.page).getByRole('link', { name: 'bob' }).waitFor();
    await H.send(alice.page, 'psst, just between us');

    // Bob is still in #general: the DM shows up with an unread badge.
    const link = H.dmsNav(bob.page).getByRole('link', { name: /alice/ });
    await link.locator('.badge', { hasText: '1' }).waitFor();
    await link.click();
    await H.messageTexts(bob.page, 'psst, just between us').waitFor();
    assert.equal(await link.locator('.badge').count(), 0);
    await H.send(bob.page, 'got it');
    await H.messageTexts(alice.page, 'got it').waitFor();
    // The DM is not in #general.
    await bob.page.goto(`/chat#group-${groupId}`);
    await H.messageTexts(bob.page, 'Hello Bob!').waitFor();
    assert.equal(await H.messageTexts(bob.page, 'got it').count(), 0);
  });

  test('a message in a group you are not viewing raises its unread count', async () => {
    // Bob reads his DM; Alice writes in #general.
    await H.dmsNav(bob.page).getByRole('link', { name: /alice/ }).click();
    await H.messageTexts(bob.page, 'got it').waitFor();
    await alice.page.goto(`/chat#group-${groupId}`);
    await H.messageTexts(alice.page, 'Hello Bob!').waitFor();
    await H.send(alice.page, 'anyone in general?');
    const general = H.groupsNav(bob.page).getByRole('link', { name: /general/ });
    await general.locator('.badge', { hasText: '1' }).waitFor();
    await general.click();
    await H.messageTexts(bob.page, 'anyone in general?').waitFor();
    assert.equal(await general.locator('.badge').count(), 0);
  });

  test('end-to-end groups carry a lock mark; an envelope not wrapped for this device says so', async () => {
    const id = await H.createGroup(alice.page, 'vault', { e2e: true });
    const entry = H.groupsNav(bob.page).getByRole('listitem').filter({ hasText: 'vault' });
    await entry.getByRole('img', { name: 'End-to-end encrypted' }).waitFor();
    await alice.page.waitForFunction(() => !document.getElementById('composer-input').disabled);
    // An envelope wrapped only for some other device (see e2e.test.mjs for real ones).
    // Well-formed as the server checks it: a 12-byte iv, a ciphertext with room for its tag,
    // a 256-byte wrapped key under a fingerprint that is not this device's.
    // Signed (as the server requires) by alice's device: a signature that does not match,
    // which the server cannot tell.
    const signer = await alice.page.evaluate(async (g) => (await (await fetch(`/api/groups/${g}/keys`)).json())
      .keys.find((k) => k.username === 'alice').fingerprint, id);
    const envelope = {
      iv: 'AAAAAAAAAAAAAAAA', ciphertext: 'B'.repeat(24), keys: { ['ab'.repeat(32)]: 'C'.repeat(344) }, signer, sig: Buffer.alloc(64, 7).toString('base64'),
    };
    await H.sendViaSocket(alice.page, id, [{ envelope }]);
    await H.log(alice.page).getByText('Not encrypted for this device').waitFor();
  });

  test('a burst past the rate limit is told to the user, then delivered once, in order', async () => {
    await bob.page.goto(`/chat#group-${groupId}`);
    await H.messageTexts(bob.page, 'Hello Bob!').waitFor();
    await alice.page.goto(`/chat#group-${groupId}`);
    await H.messageTexts(alice.page, 'Hello Bob!').waitFor();
    // 30 messages at once; the server allows a burst of 20, then 5 a second.
    const texts = Array.from({ length: 30 }, (_, i) => `burst ${i + 1}`);
    await bob.page.evaluate((list) => {
      const input = document.getElementById('composer-input');
      for (const t of list) {
        input.value = t;
        input.dispatchEvent(new KeyboardEvent('keydown', { key: 'Enter', bubbles: true, cancelable: true }));
      }
    }, texts);
    await bob.page.getByRole('alert').filter({ hasText: 'too fast' }).first().waitFor();
    await H.messageTexts(alice.page, 'burst 30').waitFor({ timeout: 20000 });
    await H.log(bob.page).locator('.msg.pending').waitFor({ state: 'detached' });
    for (const u of [alice, bob]) {
      const shown = (await H.log(u.page).locator('.msg .text').allTextContents()).filter((t) => t.startsWith('burst '));
      assert.deepEqual(shown, texts);
    }
  });

  test('no console errors', () => {
    H.assertNoErrors(ctx.errors);
  });
});
