// Over HTTPS the client uses wss:// and the badge names the TLS version.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import * as H from './helpers.mjs';

describe('HTTPS', () => {
  const dir = H.tempDir('tls');
  let srv;
  let browser;
  const errors = [];

  before(async () => {
    srv = await H.startServer({
      dataDir: path.join(dir, 'data'),
      args: ['--tls', '--certfile', path.join(dir, 'cert.pem'), '--keyfile', path.join(dir, 'key.pem'),
        '--tls-config', path.join(H.ROOT, 'tls_config.json')],
    });
    browser = await H.launchBrowser();
  });

  after(async () => {
    if (browser) await browser.close();
    if (srv) await srv.stop();
    H.removeDir(dir);
  });

  test('chat works over wss:// and the badge says HTTPS with the TLS version', async () => {
    assert.match(srv.url, /^https:/);
    const context = await browser.newContext({ baseURL: srv.url, ignoreHTTPSErrors: true });
    const page = await context.newPage();
    H.watchErrors(page, errors);
    const sockets = [];
    page.on('websocket', (ws) => sockets.push(ws.url()));
    await page.goto('/register');
    await page.getByLabel('Username').fill('tlsuser');
    await page.getByLabel('Password').fill('correct horse battery');
    await page.getByRole('button', { name: 'Register' }).click();
    await page.waitForURL(/\/chat/);
    await H.waitLive(page, 'tlsuser');
    const badge = await page.getByLabel('Connection security').textContent();
    assert.match(badge, /HTTPS/);
    assert.match(badge, /TLS ?1\.[23]/);
    await H.createGroup(page, 'secure-room');
    await H.send(page, 'over TLS');
    assert.ok(sockets.length >= 2, `sockets: ${sockets}`);
    for (const url of sockets) assert.match(url, /^wss:\/\//);
    await context.close();
  });

  test('no console errors', () => {
    H.assertNoErrors(errors);
  });
});
