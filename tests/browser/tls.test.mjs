// Over HTTPS the client uses wss:// and the badge names the TLS version.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as H from './helpers.mjs';

describe('HTTPS', () => {
  // Chromium does not register a service worker (static/sw.js) from an
  // untrusted certificate such as this self-signed one, and says so; the
  // page works without the worker.
  const ctx = H.usersOnServer('tls', ['tlsuser'], {
    tls: true, ignore: [/An SSL certificate error occurred when fetching the script/],
  });

  test('chat works over wss:// and the badge says HTTPS with the TLS version', async () => {
    assert.match(ctx.srv.url, /^https:/);
    const { page } = ctx.users.tlsuser;
    // The user registered over HTTPS; load the chat page again to see all its sockets.
    const sockets = [];
    page.on('websocket', (ws) => sockets.push(ws.url()));
    await page.reload();
    await H.waitLive(page, 'tlsuser');
    const badge = await page.getByLabel('Connection security').textContent();
    assert.match(badge, /HTTPS/);
    assert.match(badge, /TLS ?1\.[23]/);
    await H.createGroup(page, 'secure-room');
    await H.send(page, 'over TLS');
    assert.ok(sockets.length >= 2, `sockets: ${sockets}`);
    for (const url of sockets) assert.match(url, /^wss:\/\//);
  });

  test('an image shared over HTTPS shows inline', async () => {
    const { page } = ctx.users.tlsuser;
    const [chooser] = await Promise.all([
      page.waitForEvent('filechooser'),
      page.getByRole('button', { name: 'Attach files' }).click(),
    ]);
    await chooser.setFiles({ name: 'over-tls.png', mimeType: 'image/png', buffer: H.png(24, 16, 'over tls') });
    await page.getByRole('list', { name: 'Files to send' }).getByRole('listitem')
      .filter({ hasText: 'over-tls.png' }).getByText('Ready').waitFor();
    await H.composer(page).fill('a picture over TLS');
    await H.composer(page).press('Enter');
    const img = H.log(page).locator('.msg:not(.pending) img[alt="over-tls.png"]');
    await img.waitFor();
    await page.waitForFunction((el) => el.complete && el.naturalWidth === 24, await img.elementHandle());
    assert.match(await img.getAttribute('src'), /^\/files\/\d+\//);
  });

  test('no console errors', () => {
    H.assertNoErrors(ctx.errors);
  });
});
