// Conversation features between browsers: @mention autocomplete and
// highlighting, replies (quote, jump to an original beyond the first page),
// reactions (live, toggled, any emoji), formatted text built as DOM nodes,
// the read position across two devices of one user ("New since you left"),
// a reconnect that replays an edit made while the client was offline, and
// in an E2E group: quotes of decrypted originals and mentions the frame lists.

import { describe, test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as H from './helpers.mjs';

// Going offline on purpose: the browser logs the refused reconnects and requests.
const EXPECTED = [/WebSocket connection to '.*' failed/, /ERR_INTERNET_DISCONNECTED/,
  // A 21st emoji on one message, refused on purpose.
  H.expectedStatus(400, /^\/api\/messages\/\d+\/reactions\//)];

/** The message row (in the log) whose text is exactly `text`. */
function row(page, text) {
  const exact = page.locator('.text').filter({ hasText: new RegExp(`^${H.escapeRe(text)}$`) });
  return H.log(page).locator('.msg').filter({ has: exact });
}

/** Waits until the server has the user's read position in group `g` at `id` or later. */
async function readUpTo(page, g, id) {
  for (let i = 0; i < 100; i += 1) {
    const at = await page.evaluate(async (gid) => {
      const r = await fetch('/api/groups').then((res) => res.json());
      return r.groups.find((x) => x.id === gid).last_read_id;
    }, g);
    if (at >= id) return;
    await H.sleep(100);
  }
  assert.fail(`read position in ${g} never reached ${id}`);
}

async function idOf(page, text) {
  return Number(await row(page, text).getAttribute('data-id'));
}

describe('conversation features', () => {
  const ctx = H.usersOnServer('features', ['alice', 'bob', 'carol'], { ignore: EXPECTED, args: ['--msg-rate', '0'] });
  let alice;
  let bob;
  let carol;
  let groupId;
  before(async () => {
    ({ alice, bob, carol } = ctx.users);
    groupId = await H.createGroup(alice.page, 'features');
    await H.joinGroup(bob.page, 'features', groupId);
    await H.joinGroup(carol.page, 'features', groupId);
    // carol only needs to be a member; her page steps away.
    await carol.page.goto('/login');
  });

  test('mentions: the autocomplete offers members, picks by keyboard and click; the mentioned see it highlighted', async () => {
    await alice.page.evaluate(() => {
      window.seen = [];
      window.addEventListener('securechat:message', (e) => window.seen.push(e.detail));
    });
    const input = H.composer(bob.page);
    await input.click();
    await bob.page.keyboard.type('hey @');
    const list = bob.page.getByRole('listbox', { name: 'Mention someone' });
    await list.waitFor();
    assert.deepEqual(await list.getByRole('option').allTextContents(), ['@alice', '@carol']);
    assert.equal(await input.getAttribute('aria-activedescendant'), await list.getByRole('option').first().getAttribute('id'));
    await bob.page.keyboard.type('a');
    assert.deepEqual(await list.getByRole('option').allTextContents(), ['@alice']);
    await bob.page.keyboard.press('Backspace');
    await bob.page.keyboard.press('ArrowDown');
    assert.equal(await list.getByRole('option', { selected: true }).textContent(), '@carol');
    await bob.page.keyboard.press('ArrowUp');
    // Enter picks (and does not send).
    await bob.page.keyboard.press('Enter');
    await list.waitFor({ state: 'hidden' });
    assert.equal(await input.inputValue(), 'hey @alice ');
    await bob.page.keyboard.type('and @c');
    await list.getByRole('option', { name: '@carol' }).click();
    assert.equal(await input.inputValue(), 'hey @alice and @carol ');
    await bob.page.keyboard.type('look @ca');
    await bob.page.keyboard.press('Escape');
    await list.waitFor({ state: 'hidden' });
    await bob.page.keyboard.type('t');
    await bob.page.keyboard.press('Enter');
    const text = 'hey @alice and @carol look @cat';

    const mine = row(alice.page, text);
    await mine.waitFor();
    await mine.locator('.mention-me', { hasText: '@alice' }).waitFor();
    assert.match(await mine.getAttribute('class'), /\bmentions-me\b/);
    assert.equal(await mine.locator('.mention:not(.mention-me)').textContent(), '@carol');
    // @cat is nobody: plain text.
    assert.equal(await mine.locator('.mention').count(), 2);
    const theirs = row(bob.page, text);
    await theirs.locator('.mention', { hasText: '@alice' }).waitFor();
    assert.equal(await theirs.locator('.mention-me').count(), 0);
    assert.doesNotMatch(await theirs.getAttribute('class'), /\bmentions-me\b/);

    // The shell hears of each live message.
    const seen = await alice.page.evaluate(() => window.seen);
    const hit = seen.find((d) => d.text === text);
    assert.ok(hit, JSON.stringify(seen));
    assert.deepEqual({ ...hit, messageId: 0 }, {
      groupId, messageId: 0, author: 'bob', text, mentionsMe: true, mine: false,
    });
  });

  test('markup: bold, italic, code, fenced blocks and http(s) links, built as nodes; javascript: stays text', async () => {
    const text = '**bold** and _it_ with `a <b>` see https://example.com/x?y=1. or javascript:alert(1) snake_case_name\n```\nlet x = "<i>";\n```';
    await H.composer(alice.page).fill(text);
    await H.composer(alice.page).press('Enter');
    const msg = H.log(bob.page).locator('.msg').filter({ hasText: 'snake_case_name' });
    await msg.waitFor();
    const t = msg.locator('.text');
    assert.equal(await t.locator('strong').textContent(), 'bold');
    assert.equal(await t.locator('em').textContent(), 'it');
    assert.equal(await t.locator(':scope > code').textContent(), 'a <b>');
    assert.equal(await t.locator('pre code').textContent(), 'let x = "<i>";');
    const links = t.locator('a');
    assert.equal(await links.count(), 1);
    assert.equal(await links.getAttribute('href'), 'https://example.com/x?y=1');
    assert.equal(await links.getAttribute('rel'), 'noopener noreferrer');
    assert.equal(await links.getAttribute('target'), '_blank');
    assert.equal(await links.textContent(), 'https://example.com/x?y=1');
    assert.match(await t.textContent(), /x\?y=1\. or javascript:alert\(1\) snake_case_name/);
    assert.equal(await t.locator('b, i').count(), 0);
  });

  test('replies: Reply opens the reply bar (Escape cancels), the reply quotes its original', async () => {
    await H.send(alice.page, 'what time is the deploy?');
    const original = row(bob.page, 'what time is the deploy?');
    await original.waitFor();
    await original.hover();
    await original.getByRole('button', { name: 'Reply', exact: true }).click();
    const bar = bob.page.getByRole('group', { name: 'Reply' });
    await bar.waitFor();
    assert.match(await bar.textContent(), /Replying to alice: what time is the deploy\?/);
    await H.composer(bob.page).press('Escape');
    await bar.waitFor({ state: 'hidden' });
    await original.hover();
    await original.getByRole('button', { name: 'Reply', exact: true }).click();
    await bar.waitFor();
    await H.composer(bob.page).fill('at five');
    await H.composer(bob.page).press('Enter');
    await bar.waitFor({ state: 'hidden' });
    for (const page of [alice.page, bob.page]) {
      const reply = row(page, 'at five');
      const quote = reply.getByRole('button', { name: 'In reply to alice: what time is the deploy?' });
      await quote.waitFor();
    }
    // Everyone can reply, but only the author edits.
    const theirs = row(alice.page, 'at five');
    await theirs.hover();
    await theirs.getByRole('button', { name: 'Reply', exact: true }).waitFor();
    assert.equal(await theirs.getByRole('button', { name: 'Edit' }).count(), 0);
  });

  test('replies: clicking a quote jumps to an original beyond the first page', async () => {
    await H.send(alice.page, 'the very old original');
    const originalId = await idOf(alice.page, 'the very old original');
    const seeds = Array.from({ length: 70 }, (_, i) => `filler ${i + 1}`);
    await H.sendViaSocket(alice.page, groupId, seeds);
    await H.sendViaSocket(alice.page, groupId, [{ content: 'answering the old one', reply_to: originalId }]);
    // bob has read it all (so the page opens at the bottom, with no older pages loaded).
    const newest = await idOf(bob.page, 'answering the old one');
    await readUpTo(bob.page, groupId, newest);
    await bob.page.reload();
    await H.waitLive(bob.page, 'bob');
    const reply = row(bob.page, 'answering the old one');
    await reply.waitFor();
    assert.equal(await H.messageTexts(bob.page, 'the very old original').count(), 0, 'not on the first page');
    await reply.getByRole('button', { name: 'In reply to alice: the very old original' }).click();
    const original = row(bob.page, 'the very old original');
    await original.waitFor();
    await bob.page.waitForFunction(() => document.querySelector('#messages .msg.flash') !== null);
    assert.match(await original.getAttribute('class'), /\bflash\b/);
    assert.ok(await original.evaluate((el) => {
      const box = el.getBoundingClientRect();
      const log = document.getElementById('messages').getBoundingClientRect();
      return box.top >= log.top - 1 && box.bottom <= log.bottom + 1;
    }), 'scrolled into view');
  });

  test('reactions: chips with counts and names, live for the others, toggled off again', async () => {
    await H.send(bob.page, 'react to me');
    const onAlice = row(alice.page, 'react to me');
    await onAlice.waitFor();
    await onAlice.hover();
    await onAlice.getByRole('button', { name: 'Add reaction' }).first().click();
    const picker = onAlice.getByRole('dialog', { name: 'Add reaction' });
    await picker.getByRole('button', { name: 'React with 👍' }).click();
    await picker.waitFor({ state: 'detached' });

    const onBob = row(bob.page, 'react to me');
    const chip = onBob.getByRole('button', { name: '👍 by alice' });
    await chip.waitFor();
    assert.equal(await chip.getAttribute('aria-pressed'), 'false');
    assert.equal(await chip.locator('.reaction-count').textContent(), '1');
    await chip.click();
    const both = onBob.getByRole('button', { name: '👍 by alice, bob' });
    await both.waitFor();
    assert.equal(await both.getAttribute('aria-pressed'), 'true');
    assert.equal(await both.locator('.reaction-count').textContent(), '2');
    await onAlice.getByRole('button', { name: '👍 by alice, bob' }).waitFor();
    assert.equal(await onAlice.getByRole('button', { name: '👍 by alice, bob' }).getAttribute('title'), '👍 by alice, bob');

    // Toggled off, live on the other side.
    await both.click();
    await onAlice.getByRole('button', { name: '👍 by alice', exact: true }).waitFor();
    await onAlice.getByRole('button', { name: '👍 by alice', exact: true }).click();
    await onBob.locator('.reactions').waitFor({ state: 'detached' });

    // Any single emoji through the field; anything else is refused in place.
    await onBob.hover();
    await onBob.getByRole('button', { name: 'Add reaction' }).first().click();
    const mine = onBob.getByRole('dialog', { name: 'Add reaction' });
    await mine.getByLabel('Any emoji').fill('abc');
    await mine.getByRole('button', { name: 'Add', exact: true }).click();
    await mine.getByRole('alert').filter({ hasText: 'Type exactly one emoji.' }).waitFor();
    await mine.getByLabel('Any emoji').fill('🦀');
    await mine.getByRole('button', { name: 'Add', exact: true }).click();
    await onAlice.getByRole('button', { name: '🦀 by bob' }).waitFor();
  });

  test('reactions: a refusal from the server is shown in the picker', async () => {
    await H.send(alice.page, 'lots of feelings');
    const id = await idOf(alice.page, 'lots of feelings');
    // 20 different emoji is the most a message takes.
    const twenty = ['😀', '😃', '😄', '😁', '😆', '😅', '🤣', '😊', '😇', '🙂', '🙃', '😉', '😌', '😍', '🥰', '😘', '😗', '😙', '😚', '😋'];
    const codes = await alice.page.evaluate(async ([mid, list]) => {
      const token = document.querySelector('meta[name="csrf-token"]').content;
      const out = [];
      for (const e of list) {
        const res = await fetch(`/api/messages/${mid}/reactions/${encodeURIComponent(e)}`, { method: 'PUT', headers: { 'X-CSRF-Token': token } });
        out.push(res.status);
      }
      return out;
    }, [id, twenty]);
    assert.deepEqual([...new Set(codes)], [200]);
    const msg = row(bob.page, 'lots of feelings');
    await msg.getByRole('button', { name: '😋 by alice' }).waitFor();
    await msg.hover();
    await msg.getByRole('button', { name: 'Add reaction' }).first().click();
    const picker = msg.getByRole('dialog', { name: 'Add reaction' });
    await picker.getByRole('button', { name: 'React with 👀' }).click();
    const alert = picker.getByRole('alert');
    await alert.waitFor();
    assert.ok((await alert.textContent()).length > 0);
    assert.equal(await msg.getByRole('button', { name: /^👀 by/ }).count(), 0);
    await picker.getByRole('button', { name: 'Close' }).click();
    await picker.waitFor({ state: 'detached' });
  });

  test('read position: another device of the same user opens where the first one read; messages that came meanwhile get the divider', async () => {
    const isRead = (r) => r.url().endsWith(`/api/groups/${groupId}/read`) && r.request().method() === 'PUT';
    const reading = alice.page.waitForResponse(isRead);
    await H.send(bob.page, 'read this on the first device');
    await H.messageTexts(alice.page, 'read this on the first device').waitFor();
    // alice's first device is at the bottom and visible: it reads.
    assert.equal((await reading).status(), 200);

    const second = await H.logIn(ctx.browser, ctx.url, 'alice', { errors: ctx.errors, ignore: EXPECTED });
    await second.page.goto(`/chat#group-${groupId}`);
    await H.messageTexts(second.page, 'read this on the first device').waitFor();
    await H.sleep(300);
    assert.equal(await second.page.locator('.unread-divider').count(), 0);
    assert.ok(await second.page.evaluate(() => {
      const l = document.getElementById('messages');
      return l.scrollHeight - l.scrollTop - l.clientHeight < 48;
    }), 'at the bottom');
    await second.context.close();

    // alice steps away; bob writes.
    await alice.page.goto('/login');
    await H.send(bob.page, 'while you were away 1');
    await H.send(bob.page, 'while you were away 2');
    const readAgain = alice.page.waitForResponse(isRead);
    await alice.page.goto(`/chat#group-${groupId}`);
    const first = row(alice.page, 'while you were away 1');
    await first.waitFor();
    const divider = alice.page.getByRole('separator', { name: 'New since you left' });
    await divider.waitFor();
    assert.equal(await alice.page.locator('.unread-divider').count(), 1);
    assert.equal(await first.locator('.unread-divider').count(), 1, 'the divider is above the first unread message');

    // Seen now (at the bottom): the next visit has no divider.
    assert.equal((await readAgain).status(), 200);
    await alice.page.reload();
    await H.messageTexts(alice.page, 'while you were away 2').waitFor();
    await H.sleep(300);
    assert.equal(await alice.page.locator('.unread-divider').count(), 0);
  });

  test('reconnect: an edit made while offline arrives through the replay, without re-reading history', async () => {
    await H.send(alice.page, 'edit me while bob is away');
    const id = await idOf(alice.page, 'edit me while bob is away');
    // Know bob's sockets, to drop them.
    await bob.page.addInitScript(() => {
      const Native = window.WebSocket;
      window.sockets = [];
      window.WebSocket = class extends Native {
        constructor(...args) {
          super(...args);
          window.sockets.push(this);
        }
      };
    });
    await bob.page.reload();
    await H.waitLive(bob.page, 'bob');
    await H.messageTexts(bob.page, 'edit me while bob is away').waitFor();
    await bob.page.waitForFunction(() => window.sockets.some((s) => /\/ws\/chat\//.test(s.url) && s.readyState === 1));
    await H.sleep(300);

    const pages = [];
    const urls = [];
    bob.page.on('request', (r) => {
      if (r.url().includes(`/api/groups/${groupId}/messages`)) pages.push(r.url());
    });
    bob.page.on('websocket', (ws) => urls.push(ws.url()));
    await bob.context.setOffline(true);
    await bob.page.evaluate(() => {
      for (const s of window.sockets) if (/\/ws\/chat\//.test(s.url)) s.close();
    });
    await bob.page.getByRole('status').filter({ hasText: 'Reconnecting…' }).waitFor();

    const status = await alice.page.evaluate(async ([path]) => {
      const token = document.querySelector('meta[name="csrf-token"]').content;
      const res = await fetch(path, {
        method: 'PATCH', headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': token }, body: JSON.stringify({ content: 'edited while bob was away' }),
      });
      return res.status;
    }, [`/api/messages/${id}`]);
    assert.equal(status, 200);
    await H.sleep(500);
    assert.equal(await H.messageTexts(bob.page, 'edited while bob was away').count(), 0);

    await bob.context.setOffline(false);
    await H.messageTexts(bob.page, 'edited while bob was away').waitFor();
    const resumed = urls.find((u) => /\/ws\/chat\/\d+\?after=\d+&since=\d+$/.test(u));
    assert.ok(resumed, urls.join('\n'));
    await H.sleep(800);
    assert.deepEqual(pages, [], 'no catch-up page');
  });

  test('no console errors', () => {
    H.assertNoErrors(ctx.errors);
  });
});

describe('conversation features in an end-to-end encrypted group', () => {
  const ctx = H.usersOnServer('features-e2e', ['alice', 'bob']);

  test('a reply quotes the decrypted original; a mention travels as the frame\'s list and is highlighted', async () => {
    const { alice, bob } = ctx.users;
    const groupId = await H.createGroup(alice.page, 'sealed', { e2e: true });
    await H.joinGroup(bob.page, 'sealed', groupId);
    // Both devices' keys are known on both sides before anything is encrypted.
    for (const page of [alice.page, bob.page]) {
      for (const name of ['alice', 'bob']) {
        await page.getByRole('list', { name: 'In this group' }).locator('li.person')
          .filter({ has: page.locator('.uname', { hasText: new RegExp(`^${name}$`) }) }).locator('code.fp').first().waitFor();
      }
    }
    await H.send(alice.page, 'the sealed original');
    const original = row(bob.page, 'the sealed original');
    await original.waitFor();
    await original.hover();
    await original.getByRole('button', { name: 'Reply', exact: true }).click();
    await bob.page.getByRole('group', { name: 'Reply' }).filter({ hasText: 'Replying to alice: the sealed original' }).waitFor();
    await H.composer(bob.page).fill('@alice agreed');
    await H.composer(bob.page).press('Enter');

    const reply = row(alice.page, '@alice agreed');
    await reply.getByRole('button', { name: 'In reply to alice: the sealed original' }).waitFor();
    await reply.locator('.mention-me', { hasText: '@alice' }).waitFor();
    assert.match(await reply.getAttribute('class'), /\bmentions-me\b/);

    // On the wire: no excerpt (the server cannot read it), the mention listed by the sender.
    const stored = await alice.page.evaluate(async (id) => (await (await fetch(`/api/groups/${id}/messages`)).json()).messages, groupId);
    const sent = stored.find((m) => m.author === 'bob');
    assert.equal(sent.content, undefined);
    assert.deepEqual(sent.reply_to, { id: stored.find((m) => m.author === 'alice').id, author: 'alice', excerpt: null });
    assert.deepEqual(sent.mentions, ['alice']);

    // After a reload the quote is decrypted from the loaded original again.
    await alice.page.reload();
    await H.waitLive(alice.page, 'alice');
    await row(alice.page, '@alice agreed').getByRole('button', { name: 'In reply to alice: the sealed original' }).waitFor();
  });

  test('no console errors', () => {
    H.assertNoErrors(ctx.errors);
  });
});
