// Theme, the fixed header over a log that scrolls on its own, paging of
// older history, and screenshots of both themes on a desktop and a phone.

import { describe, test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as H from './helpers.mjs';

describe('layout, theme and history', () => {
  // No message rate limit: the tests seed history quickly.
  const ctx = H.usersOnServer('layout', ['alice', 'bob.martin', 'carol_w'], { args: ['--msg-rate', '0'] });
  let alice;
  let bob;
  let carol;
  before(() => ({ alice, 'bob.martin': bob, carol_w: carol } = ctx.users));

  test('Toggle theme flips data-theme and survives a reload', async () => {
    const { page } = alice;
    const theme = () => page.evaluate(() => document.documentElement.getAttribute('data-theme'));
    assert.equal(await theme(), 'light', 'follows prefers-color-scheme: light at first');
    await page.getByRole('button', { name: 'Toggle theme' }).click();
    assert.equal(await theme(), 'dark');
    assert.equal(await page.evaluate(() => localStorage.getItem('theme')), 'dark');
    await page.reload();
    await H.waitLive(page, 'alice');
    assert.equal(await theme(), 'dark');
    await page.getByRole('button', { name: 'Toggle theme' }).click();
    assert.equal(await theme(), 'light');
    await page.reload();
    await H.waitLive(page, 'alice');
    assert.equal(await theme(), 'light');

    // With no saved choice, the first default follows prefers-color-scheme.
    const context = await ctx.browser.newContext({ baseURL: ctx.url, colorScheme: 'dark' });
    const p = await context.newPage();
    H.watchErrors(p, ctx.errors);
    await p.goto('/login');
    assert.equal(await p.evaluate(() => document.documentElement.getAttribute('data-theme')), 'dark');
    await context.close();
  });

  test('the log scrolls on its own while the header stays put', async () => {
    const { page } = alice;
    const id = await H.createGroup(page, 'scrolling');
    await H.sendViaSocket(page, id, Array.from({ length: 60 }, (_, i) => `scroll line ${i + 1}`));
    await H.messageTexts(page, 'scroll line 60').waitFor();
    const log = H.log(page);
    const header = page.locator('header.topbar');
    const before = await header.boundingBox();
    const top0 = await log.evaluate((el) => el.scrollTop);
    assert.ok(await log.evaluate((el) => el.scrollHeight > el.clientHeight + 100), 'log overflows');
    await log.hover();
    await page.mouse.wheel(0, -600);
    await page.waitForFunction((t) => document.getElementById('messages').scrollTop < t - 200, top0);
    const after = await header.boundingBox();
    assert.deepEqual(after, before);
    const doc = await page.evaluate(() => ({
      y: window.scrollY,
      top: document.scrollingElement.scrollTop,
      overflow: document.scrollingElement.scrollHeight - window.innerHeight,
    }));
    assert.equal(doc.y, 0);
    assert.equal(doc.top, 0);
    assert.ok(doc.overflow <= 0, `the page itself does not scroll (${doc.overflow})`);
    assert.ok((await header.boundingBox()).y === 0, 'header at the top');

    // Scrolled up: someone else's message shows the "New messages" pill instead of jumping.
    await H.joinGroup(bob.page, 'scrolling', id);
    const stayed = await log.evaluate((el) => el.scrollTop);
    await H.sendViaSocket(bob.page, id, ['while you were reading']);
    await H.messageTexts(page, 'while you were reading').waitFor({ state: 'attached' });
    assert.equal(await log.evaluate((el) => el.scrollTop), stayed, 'did not jump');
    await page.getByRole('button', { name: /New messages/ }).click();
    await page.waitForFunction(() => {
      const el = document.getElementById('messages');
      return el.scrollHeight - el.scrollTop - el.clientHeight < 48;
    });
    await page.getByRole('button', { name: /New messages/ }).waitFor({ state: 'hidden' });
  });

  test('older history loads on scrolling to the top, keeping the position', async () => {
    const { page } = alice;
    const id = await H.createGroup(page, 'history');
    await H.sendViaSocket(page, id, Array.from({ length: 120 }, (_, i) => `seed ${i + 1}`));
    await page.reload();
    await H.messageTexts(page, 'seed 120').waitFor();
    const log = H.log(page);
    // The first page holds the newest 50.
    assert.equal(await H.messageTexts(page, 'seed 71').count(), 1);
    assert.equal(await H.messageTexts(page, 'seed 70').count(), 0);
    assert.ok(await log.evaluate((el) => el.scrollHeight - el.scrollTop - el.clientHeight < 48), 'opens at the bottom');

    // Scroll to the top: the next 50 appear above, and "seed 71" stays where it was.
    const anchor = H.messageTexts(page, 'seed 71');
    const y0 = await log.evaluate((el) => {
      el.scrollTop = 0;
      const a = [...el.querySelectorAll('.msg .text')].find((t) => t.textContent === 'seed 71');
      return a.getBoundingClientRect().top;
    });
    await H.messageTexts(page, 'seed 21').waitFor({ state: 'attached' });
    const y1 = (await anchor.boundingBox()).y;
    assert.ok(Math.abs(y1 - y0) <= 2, `anchor moved from ${y0} to ${y1}`);
    assert.ok(await log.evaluate((el) => el.scrollTop > 500), 'not left at the top');
    assert.equal(await H.messageTexts(page, 'seed 20').count(), 0);

    // Once more: the rest, then the beginning of the group.
    await log.evaluate((el) => { el.scrollTop = 0; });
    await H.messageTexts(page, 'seed 1').waitFor({ state: 'attached' });
    await page.getByText('This is the very beginning of the #history group.').waitFor({ state: 'attached' });
    const texts = await log.locator('.msg .text').allTextContents();
    assert.deepEqual(texts, Array.from({ length: 120 }, (_, i) => `seed ${i + 1}`), 'every message once, in order');
  });

  test('screenshots: light and dark, desktop and phone', async () => {
    // A realistic conversation from three people, all with the group open.
    const { page } = alice;
    await H.createGroup(bob.page, 'random');
    await H.createGroup(carol.page, 'vault', { e2e: true });
    const id = await H.createGroup(page, 'design-review');
    for (const u of [bob, carol]) {
      await H.joinGroup(u.page, 'design-review', id, { loaded: true });
    }
    await H.sendViaSocket(bob.page, id, ['Morning! The new onboarding flow is up on staging.']);
    await H.sendViaSocket(page, id, ['Nice, taking a look now.', 'The empty states feel much friendlier than before.']);
    await H.sendViaSocket(carol.page, id, ['Agreed. One thing: the "Skip" link is hard to see in dark mode.\nCould we bump its contrast a little?']);
    await H.sendViaSocket(bob.page, id, ['Good catch — I will fix it before the release.']);
    await H.sendViaSocket(page, id, ['Ship it on Thursday?']);
    await H.messageTexts(page, 'Ship it on Thursday?').waitFor();
    // A direct message from bob, unread for alice (bob stays in the group).
    const dm = await bob.page.evaluate(async () => {
      const token = document.querySelector('meta[name="csrf-token"]').content;
      const r = await fetch('/api/dm', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': token },
        body: JSON.stringify({ username: 'alice' }),
      });
      return (await r.json()).group_id;
    });
    await H.sendViaSocket(bob.page, dm, ['Got a minute for a quick call?']);
    await H.dmsNav(page).getByRole('link', { name: /bob\.martin/ }).locator('.badge').waitFor();
    // carol is typing… (slowly, so the notice stays up during the screenshots)
    await H.composer(carol.page).click();
    const typing = carol.page.keyboard.type('Sounds good to me, Thursday it is', { delay: 250 });
    await page.getByText('carol_w is typing…').waitFor();

    const shots = [];
    for (const theme of ['light', 'dark']) {
      await page.evaluate((t) => document.documentElement.setAttribute('data-theme', t), theme);
      await page.setViewportSize({ width: 1280, height: 800 });
      await page.mouse.move(1275, 795);
      await page.waitForTimeout(150);
      const desktop = H.screenshotPath(`desktop-${theme}.png`);
      await page.screenshot({ path: desktop });
      await page.setViewportSize({ width: 390, height: 844 });
      await page.mouse.move(5, 840);
      await page.waitForTimeout(250);
      const phone = H.screenshotPath(`phone-${theme}.png`);
      await page.screenshot({ path: phone });
      await page.getByRole('button', { name: 'Show sidebar' }).click();
      await page.waitForTimeout(300);
      const side = H.screenshotPath(`phone-sidebar-${theme}.png`);
      await page.screenshot({ path: side });
      await page.getByRole('button', { name: 'Hide sidebar' }).click();
      shots.push(desktop, phone, side);
    }
    await typing;
    await page.setViewportSize({ width: 1280, height: 800 });
    const context = await ctx.browser.newContext({ baseURL: ctx.url, viewport: { width: 1280, height: 800 } });
    const login = await context.newPage();
    H.watchErrors(login, ctx.errors);
    await login.goto('/login');
    await login.screenshot({ path: H.screenshotPath('login-light.png') });
    await context.close();

    // Phone layout: the sidebar collapses behind its toggle; nothing overflows sideways.
    await page.setViewportSize({ width: 360, height: 740 });
    await page.waitForTimeout(250);
    assert.equal(await page.getByRole('navigation', { name: 'Groups' }).isVisible(), false);
    assert.ok(await page.evaluate(() => document.scrollingElement.scrollWidth <= window.innerWidth));
    await page.getByRole('button', { name: 'Show sidebar' }).click();
    await page.getByRole('navigation', { name: 'Groups' }).getByRole('link', { name: 'design-review' }).waitFor();
    await page.keyboard.press('Escape');
    await page.getByRole('navigation', { name: 'Groups' }).waitFor({ state: 'hidden' });
    await page.setViewportSize({ width: 1280, height: 800 });
  });

  test('no console errors', () => {
    H.assertNoErrors(ctx.errors);
  });
});
