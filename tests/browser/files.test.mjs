// Files and images between two browsers: an image picked with the file
// chooser (progress shown, inline for the other member with its size
// reserved, full size in a dialog), a non-image file as a download card, an
// image pasted into the composer, files dropped on the conversation, an
// upload cancelled while it runs, a file that has gone ("File no longer
// available"), deleting a message takes its files away (and they 404); a
// file over --max-upload is refused before it is sent (and the server's 413
// is shown); in an end-to-end encrypted group the other member sees the
// decrypted image and downloads the decrypted file (also after a caption
// edit), the server's data directory never holds the plaintext, and
// deleting the message revokes the blob: URL.

import { describe, test, before } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import * as H from './helpers.mjs';

// Files that are gone, or refused on purpose.
const EXPECTED = [H.expectedStatus(404, /^\/files\//), H.expectedStatus(413, /^\/api\/groups\/\d+\/files$/)];

/** The message row whose text is exactly `text`. */
function row(page, text) {
  const exact = page.locator('.text').filter({ hasText: new RegExp(`^${H.escapeRe(text)}$`) });
  return H.log(page).locator('.msg:not(.pending)').filter({ has: exact });
}

const chip = (page, name) => page.getByRole('list', { name: 'Files to send' }).getByRole('listitem').filter({ hasText: name });

/** Picks files with the paperclip's file chooser. */
async function pick(page, files) {
  const [chooser] = await Promise.all([
    page.waitForEvent('filechooser'),
    page.getByRole('button', { name: 'Attach files' }).click(),
  ]);
  await chooser.setFiles(files);
}

/** Waits until the chip of `name` is uploaded. */
async function ready(page, name) {
  await chip(page, name).getByText('Ready').waitFor();
}

/** Sends what the composer holds (caption and files); waits for the stored message. */
async function sendWith(page, caption) {
  await H.composer(page).fill(caption);
  await H.composer(page).press('Enter');
  await page.waitForFunction(() => !document.querySelector('#messages .msg.pending'));
}

/** Waits until `img` has decoded and returns its natural size. */
async function decoded(img) {
  await img.waitFor();
  await img.evaluate((el) => (el.complete && el.naturalWidth ? null : new Promise((resolve, reject) => {
    el.addEventListener('load', resolve, { once: true });
    el.addEventListener('error', () => reject(new Error('image failed to load')), { once: true });
  })));
  return img.evaluate((el) => ({ w: el.naturalWidth, h: el.naturalHeight, src: el.getAttribute('src') }));
}

/** Whether an image URL loads in the page (a revoked blob: URL does not). */
function loads(page, url) {
  return page.evaluate((u) => new Promise((resolve) => {
    const img = new Image();
    img.onload = () => resolve(true);
    img.onerror = () => resolve(false);
    img.src = u;
  }), url);
}

function filesUnder(dir) {
  return readdirSync(dir).flatMap((name) => {
    const p = path.join(dir, name);
    return statSync(p).isDirectory() ? filesUnder(p) : [p];
  });
}

async function storedMessages(page, groupId) {
  return page.evaluate(async (id) => (await (await fetch(`/api/groups/${id}/messages`)).json()).messages, groupId);
}

describe('files and images', () => {
  const ctx = H.usersOnServer('files', ['alice', 'bob'], { ignore: EXPECTED, args: ['--msg-rate', '0'] });
  let alice;
  let bob;
  let groupId;
  before(async () => {
    ({ alice, bob } = ctx.users);
    groupId = await H.createGroup(alice.page, 'pictures');
    await H.joinGroup(bob.page, 'pictures', groupId, { loaded: true });
  });

  test('an image picked with the file chooser: progress, then inline for the other member, sized before it loads', async () => {
    // Every value the progress bar announces.
    await alice.page.evaluate(() => {
      window.progressSeen = [];
      new MutationObserver((records) => {
        for (const r of records) window.progressSeen.push(r.target.getAttribute('aria-valuenow'));
      }).observe(document.getElementById('pending-files'), { subtree: true, attributes: true, attributeFilter: ['aria-valuenow'] });
    });
    const dot = H.png(40, 30);
    await pick(alice.page, { name: 'dot.png', mimeType: 'image/png', buffer: dot });
    const bar = chip(alice.page, 'dot.png').getByRole('progressbar', { name: 'Upload of dot.png' });
    await bar.waitFor();
    await chip(alice.page, 'dot.png').getByText(`${Math.ceil(dot.length / 1024)} KiB`, { exact: true }).waitFor();
    await ready(alice.page, 'dot.png');
    assert.equal(await bar.getAttribute('aria-valuenow'), '100');
    assert.ok((await alice.page.evaluate(() => window.progressSeen)).includes('100'));

    await sendWith(alice.page, 'a dot');
    assert.equal(await chip(alice.page, 'dot.png').count(), 0, 'the chip went with the message');
    const img = row(bob.page, 'a dot').getByRole('img', { name: 'dot.png' });
    await img.waitFor();
    assert.equal(await img.getAttribute('width'), '40');
    assert.equal(await img.getAttribute('height'), '30');
    assert.equal(await img.getAttribute('loading'), 'lazy');
    const size = await decoded(img);
    assert.deepEqual([size.w, size.h], [40, 30]);
    assert.match(size.src, /^\/files\/\d+\/dot\.png$/);
    // The sender sees it too.
    assert.equal((await decoded(row(alice.page, 'a dot').getByRole('img', { name: 'dot.png' }))).w, 40);

    // A click opens it full size; Escape closes it.
    await row(bob.page, 'a dot').getByRole('button', { name: 'Open dot.png full size' }).click();
    const dialog = bob.page.getByRole('dialog', { name: 'dot.png' });
    await dialog.waitFor();
    assert.equal((await decoded(dialog.getByRole('img', { name: 'dot.png' }))).w, 40);
    await bob.page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'hidden' });
  });

  test('a non-image file is a download card with its name and size', async () => {
    const text = 'plain notes, 32 bytes of them.\n!';
    await pick(alice.page, { name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from(text) });
    await ready(alice.page, 'notes.txt');
    // No caption: files alone make a message.
    await H.composer(alice.page).press('Enter');
    const card = H.log(bob.page).locator('.att-file').filter({ hasText: 'notes.txt' });
    await card.waitFor();
    await card.getByText('32 B · TXT').waitFor();
    const link = card.getByRole('link', { name: 'Download notes.txt' });
    assert.equal(await link.getAttribute('download'), 'notes.txt');
    const href = await link.getAttribute('href');
    assert.match(href, /^\/files\/\d+\/notes\.txt$/);
    const got = await bob.page.evaluate(async (u) => {
      const r = await fetch(u);
      return { status: r.status, disposition: r.headers.get('content-disposition'), body: await r.text() };
    }, href);
    assert.equal(got.status, 200);
    assert.match(got.disposition, /^attachment/);
    assert.equal(got.body, text);
  });

  test('an image pasted into the composer is uploaded and sent', async () => {
    const bytes = [...H.png(12, 20, 'pasted')];
    await alice.page.evaluate((b) => {
      const dt = new DataTransfer();
      dt.items.add(new File([new Uint8Array(b)], 'pasted.png', { type: 'image/png' }));
      const input = document.getElementById('composer-input');
      input.dispatchEvent(new ClipboardEvent('paste', { clipboardData: dt, bubbles: true, cancelable: true }));
    }, bytes);
    await ready(alice.page, 'pasted.png');
    await sendWith(alice.page, 'from the clipboard');
    const size = await decoded(row(bob.page, 'from the clipboard').getByRole('img', { name: 'pasted.png' }));
    assert.deepEqual([size.w, size.h], [12, 20]);
  });

  test('files dropped on the conversation are uploaded and sent', async () => {
    const bytes = [...H.png(64, 48, 'dropped')];
    await alice.page.evaluate((b) => {
      const dt = new DataTransfer();
      dt.items.add(new File([new Uint8Array(b)], 'dropped.png', { type: 'image/png' }));
      dt.items.add(new File(['a,b\n1,2\n'], 'table.csv', { type: 'text/csv' }));
      const zone = document.getElementById('messages');
      zone.dispatchEvent(new DragEvent('dragover', { dataTransfer: dt, bubbles: true, cancelable: true }));
      zone.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
    }, bytes);
    await ready(alice.page, 'dropped.png');
    await ready(alice.page, 'table.csv');
    await H.composer(alice.page).fill('dropped in');
    await alice.page.screenshot({ path: H.screenshotPath('files-composer-light.png') });
    await H.composer(alice.page).press('Enter');
    const msg = row(bob.page, 'dropped in');
    assert.equal((await decoded(msg.getByRole('img', { name: 'dropped.png' }))).w, 64);
    await msg.locator('.att-file').getByText('table.csv').waitFor();
    await bob.page.screenshot({ path: H.screenshotPath('files-light.png') });
    // On a phone, in the dark theme.
    const phone = { context: await ctx.browser.newContext({ baseURL: ctx.url, viewport: { width: 390, height: 760 }, colorScheme: 'dark' }) };
    phone.page = await phone.context.newPage();
    H.watchErrors(phone.page, ctx.errors, EXPECTED);
    await phone.page.goto('/login');
    await phone.page.getByLabel('Username').fill('bob');
    await phone.page.getByLabel('Password').fill('correct horse battery');
    await phone.page.getByRole('button', { name: 'Log in' }).click();
    // The chat page opens the only group by itself.
    await phone.page.waitForURL(`**/chat#group-${groupId}`);
    assert.equal((await decoded(row(phone.page, 'dropped in').getByRole('img', { name: 'dropped.png' }))).w, 64);
    await phone.page.evaluate(() => document.documentElement.setAttribute('data-theme', 'dark'));
    await phone.page.waitForTimeout(300);
    await phone.page.screenshot({ path: H.screenshotPath('files-dark-mobile.png') });
    await phone.context.close();
  });

  test('an upload cancelled while it runs is not sent', async () => {
    // Hold the upload so that it is still running when it is cancelled.
    let held = 0;
    await alice.page.route('**/api/groups/*/files', async (route) => {
      held += 1;
      await H.sleep(4000);
      await route.continue().catch(() => {});
    });
    await pick(alice.page, { name: 'slow.png', mimeType: 'image/png', buffer: H.png(8, 8, 'slow') });
    const cancel = chip(alice.page, 'slow.png').getByRole('button', { name: 'Cancel upload of slow.png' });
    await cancel.waitFor();
    while (!held) await H.sleep(20);
    const aborted = alice.page.waitForEvent('requestfailed', (r) => /\/files$/.test(r.url()));
    await cancel.click();
    await chip(alice.page, 'slow.png').waitFor({ state: 'detached' });
    await aborted;
    await alice.page.unroute('**/api/groups/*/files');
    await H.send(alice.page, 'after the cancel');
    await row(bob.page, 'after the cancel').waitFor();
    assert.equal(await row(bob.page, 'after the cancel').locator('.attachments').count(), 0);
    const stored = (await storedMessages(alice.page, groupId)).find((m) => m.content === 'after the cancel');
    assert.deepEqual(stored.attachments, []);
  });

  test('a file that is gone says so instead of a broken image', async () => {
    // bob's browser finds the next image gone (as when its message was deleted meanwhile).
    await bob.page.route('**/files/**', (route) => route.fulfill({ status: 404, body: 'not found' }));
    await pick(alice.page, { name: 'gone.png', mimeType: 'image/png', buffer: H.png(10, 10, 'gone') });
    await ready(alice.page, 'gone.png');
    await sendWith(alice.page, 'soon gone');
    await row(bob.page, 'soon gone').getByText('File no longer available').waitFor();
    assert.equal(await row(bob.page, 'soon gone').getByRole('img', { name: 'gone.png' }).count(), 0);
    await bob.page.unroute('**/files/**');
  });

  test('deleting a message takes its image away for the other member, and the file 404s', async () => {
    const img = row(bob.page, 'a dot').getByRole('img', { name: 'dot.png' });
    const url = await img.getAttribute('src');
    const mine = row(alice.page, 'a dot');
    await mine.hover();
    await mine.getByRole('button', { name: 'Delete' }).click();
    await alice.page.getByRole('group', { name: 'Confirm deletion' }).getByRole('button', { name: 'Delete' }).click();
    await img.waitFor({ state: 'detached' });
    assert.equal(await H.log(bob.page).getByRole('img', { name: 'dot.png' }).count(), 0);
    const status = await bob.page.evaluate(async (u) => (await fetch(u)).status, url);
    assert.equal(status, 404);
    H.assertNoErrors(ctx.errors);
  });
});

describe('files over the size limit', () => {
  const ctx = H.usersOnServer('files-limit', ['carol'], { ignore: EXPECTED, args: ['--max-upload', '10KiB'] });
  let carol;
  before(async () => {
    ({ carol } = ctx.users);
    await H.createGroup(carol.page, 'small-files');
  });

  test('a file over --max-upload is refused before it is sent, with a clear message', async () => {
    const requests = [];
    carol.page.on('request', (r) => {
      if (/\/api\/groups\/\d+\/files$/.test(new URL(r.url()).pathname)) requests.push(r.url());
    });
    await pick(carol.page, { name: 'big.bin', mimeType: 'application/octet-stream', buffer: Buffer.alloc(20 * 1024, 7) });
    await chip(carol.page, 'big.bin').getByRole('alert').filter({ hasText: 'big.bin is 20 KiB: files may be at most 10 KiB.' }).waitFor();
    assert.deepEqual(requests, [], 'nothing was uploaded');
    // Removing it clears the composer.
    await chip(carol.page, 'big.bin').getByRole('button', { name: 'Remove big.bin' }).click();
    await chip(carol.page, 'big.bin').waitFor({ state: 'detached' });

    // A page that believes in a larger limit gets the server's 413 message on the chip.
    await carol.page.evaluate(() => document.querySelector('meta[name="max-upload"]').setAttribute('content', String(1 << 20)));
    await pick(carol.page, { name: 'big2.bin', mimeType: 'application/octet-stream', buffer: Buffer.alloc(12 * 1024, 7) });
    await chip(carol.page, 'big2.bin').getByRole('alert').filter({ hasText: 'Files may be at most 10 KiB.' }).waitFor();
    H.assertNoErrors(ctx.errors);
  });
});

describe('files in an end-to-end encrypted group', () => {
  // The revoked blob: URL, asked for on purpose.
  const ctx = H.usersOnServer('files-e2e', ['dana', 'erin'], { ignore: [...EXPECTED, /ERR_FILE_NOT_FOUND/] });
  const MARKER = 'e2e-file-marker-7d1f0a9c-plaintext-never-on-server';
  const secret = H.png(40, 30, MARKER);
  const DOC = 'The minutes of the secret meeting: e2e-doc-marker-55ab19';
  let dana;
  let erin;
  let groupId;
  before(async () => {
    ({ dana, erin } = ctx.users);
    groupId = await H.createGroup(dana.page, 'sealed', { e2e: true });
    await H.joinGroup(erin.page, 'sealed', groupId, { loaded: true });
    // dana's client encrypts for erin's key once it has it.
    await dana.page.getByRole('list', { name: 'In this group' }).locator('li.person', { hasText: 'erin' }).locator('code.fp').waitFor();
  });

  test('an encrypted image is decrypted inline by the other member; the server holds only ciphertext', async () => {
    await pick(dana.page, { name: 'secret.png', mimeType: 'image/png', buffer: secret });
    await ready(dana.page, 'secret.png');
    await sendWith(dana.page, 'sealed picture');
    const img = row(erin.page, 'sealed picture').getByRole('img', { name: 'secret.png' });
    await img.waitFor();
    assert.equal(await img.getAttribute('width'), '40');
    assert.equal(await img.getAttribute('height'), '30');
    const size = await decoded(img);
    assert.deepEqual([size.w, size.h], [40, 30]);
    assert.match(size.src, /^blob:/);

    // What the server has: an envelope (its five fields only) and an opaque file.
    const [m] = (await storedMessages(erin.page, groupId)).filter((x) => x.attachments.length);
    assert.equal(m.content, undefined);
    assert.deepEqual(Object.keys(m.envelope).sort(), ['ciphertext', 'iv', 'keys', 'sig', 'signer']);
    const [f] = m.attachments;
    assert.equal(f.name, 'encrypted');
    assert.equal(f.content_type, 'application/octet-stream');
    assert.equal(f.width, null);
    assert.equal(f.size, secret.length + 16);
    const served = await erin.page.evaluate(async (u) => [...new Uint8Array(await (await fetch(u)).arrayBuffer())], f.url);
    assert.equal(served.length, secret.length + 16);
    assert.notDeepEqual(Buffer.from(served.slice(0, 8)), secret.subarray(0, 8));

    // The full-size view shows the decrypted image too.
    await row(erin.page, 'sealed picture').getByRole('button', { name: 'Open secret.png full size' }).click();
    const dialog = erin.page.getByRole('dialog', { name: 'secret.png' });
    assert.equal((await decoded(dialog.getByRole('img', { name: 'secret.png' }))).w, 40);
    await erin.page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'hidden' });
  });

  test('an encrypted non-image file downloads decrypted under its name', async () => {
    await pick(dana.page, { name: 'minutes.txt', mimeType: 'text/plain', buffer: Buffer.from(DOC) });
    await ready(dana.page, 'minutes.txt');
    await sendWith(dana.page, 'the minutes');
    const card = row(erin.page, 'the minutes').locator('.att-file');
    await card.getByText(`${DOC.length} B · TXT`).waitFor();
    const [download] = await Promise.all([
      erin.page.waitForEvent('download'),
      card.getByRole('link', { name: 'Download minutes.txt' }).click(),
    ]);
    assert.equal(download.suggestedFilename(), 'minutes.txt');
    assert.equal(readFileSync(await download.path(), 'utf8'), DOC);
  });

  test('editing the caption of an encrypted message keeps its files readable', async () => {
    const mine = row(dana.page, 'the minutes');
    await mine.hover();
    await mine.getByRole('button', { name: 'Edit' }).click();
    const editor = dana.page.getByRole('textbox', { name: 'Edit text' });
    await editor.fill('the minutes, corrected');
    await editor.press('Enter');
    const card = row(erin.page, 'the minutes, corrected').locator('.att-file');
    await card.getByText(`${DOC.length} B · TXT`).waitFor();
    const [download] = await Promise.all([
      erin.page.waitForEvent('download'),
      card.getByRole('link', { name: 'Download minutes.txt' }).click(),
    ]);
    assert.equal(readFileSync(await download.path(), 'utf8'), DOC);
  });

  test('no file under the data directory holds the plaintext', async () => {
    const files = filesUnder(ctx.dataDir);
    assert.ok(files.some((p) => statSync(p).size === secret.length + 16), 'the encrypted image is stored');
    for (const p of files) {
      const bytes = readFileSync(p);
      assert.equal(bytes.indexOf(Buffer.from(MARKER)), -1, `${p} holds the image's marker`);
      assert.equal(bytes.indexOf(secret.subarray(0, 64)), -1, `${p} holds the image's bytes`);
      assert.equal(bytes.indexOf(Buffer.from('e2e-doc-marker-55ab19')), -1, `${p} holds the document`);
      assert.equal(bytes.indexOf(Buffer.from('secret.png')), -1, `${p} holds the image's name`);
    }
  });

  test('deleting the message removes the decrypted image and revokes its blob: URL', async () => {
    const img = row(erin.page, 'sealed picture').getByRole('img', { name: 'secret.png' });
    const src = await img.getAttribute('src');
    assert.equal(await loads(erin.page, src), true);
    const mine = row(dana.page, 'sealed picture');
    await mine.hover();
    await mine.getByRole('button', { name: 'Delete' }).click();
    await dana.page.getByRole('group', { name: 'Confirm deletion' }).getByRole('button', { name: 'Delete' }).click();
    await img.waitFor({ state: 'detached' });
    assert.equal(await loads(erin.page, src), false, 'the blob: URL was revoked');
    H.assertNoErrors(ctx.errors);
  });
});
