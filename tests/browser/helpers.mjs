// Shared helpers for the browser tests: start the real server binary,
// launch Debian's Chromium through playwright-core, register users through
// the UI, and collect console errors.

import { before, after } from 'node:test';
import { spawn, spawnSync } from 'node:child_process';
import net from 'node:net';
import { mkdtempSync, rmSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';
import zlib from 'node:zlib';

const here = path.dirname(fileURLToPath(import.meta.url));
export const ROOT = path.resolve(here, '..', '..');
export const BIN = process.env.SECURECHAT_BIN || path.join(ROOT, 'target', 'debug', 'securechat');
export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
export const SCREENSHOTS = path.join(ROOT, 'target', 'screenshots');

/** A fresh data directory. */
export function tempDir(tag = 'data') {
  return mkdtempSync(path.join(tmpdir(), `securechat-browser-${tag}-`));
}

/**
 * Starts `securechat` and resolves once it prints its address.
 * `port` 0 picks a free one; pass the same port and dataDir to restart.
 */
export function startServer({ port = 0, dataDir = tempDir(), args = [] } = {}) {
  const argv = ['--host', '127.0.0.1', '--port', String(port), '--data-dir', dataDir,
    '--register-rate', '0', '--login-rate', '0', ...args];
  const child = spawn(BIN, argv, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, SECURECHAT_LOG: process.env.SECURECHAT_LOG || 'warn' },
  });
  let out = '';
  let err = '';
  const keep = (s, d) => (s + d).slice(-20000);
  child.stderr.on('data', (d) => { err = keep(err, d); });
  const exited = new Promise((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
    child.once('error', (e) => resolve({ code: e.message, signal: null }));
  });
  const ready = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start in time\n${out}\n${err}`)), 20000);
    child.stdout.on('data', (d) => {
      out = keep(out, d);
      const m = /SecureChat listening on (https?:\/\/[\d.]+:(\d+))/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ url: m[1], port: Number(m[2]) });
      }
    });
    exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`server exited (${code ?? signal}) before listening\n${out}\n${err}`));
    });
  });
  return ready.then(({ url, port: bound }) => ({
    url,
    port: bound,
    dataDir,
    child,
    /** SIGTERM, then SIGKILL if it lingers; resolves when the process is gone. */
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 10000);
      await exited;
      clearTimeout(t);
    },
    logs: () => `${out}\n${err}`,
  }));
}

export function removeDir(dir) {
  try {
    rmSync(dir, { recursive: true, force: true });
  } catch {
    /* best effort */
  }
}

/** Launches headless Chromium; `args`: more command-line switches. */
export function launchBrowser(args = []) {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--disable-dev-shm-usage', ...args],
  });
}

/**
 * Collects console errors and uncaught exceptions of a page. `ignore`:
 * expected messages, each a regular expression for the text or a function
 * of (text, url of what logged it) — see `expectedStatus`.
 */
export function watchErrors(page, errors, ignore = []) {
  page.on('console', (msg) => {
    if (msg.type() !== 'error') return;
    const text = msg.text();
    const url = msg.location().url || '';
    if (ignore.some((i) => (typeof i === 'function' ? i(text, url) : i.test(text)))) return;
    errors.push(`[console] ${page.url()}: ${text}`);
  });
  page.on('pageerror', (e) => errors.push(`[pageerror] ${page.url()}: ${e.message}`));
  return errors;
}

/**
 * An `ignore` entry for the console error Chromium logs when a page or a
 * request to a path matching `path` (a regular expression) answers
 * `status`, on purpose.
 */
export function expectedStatus(status, path) {
  return (text, url) => text.startsWith(`Failed to load resource: the server responded with a status of ${status} `)
    && path.test(new URL(url, 'http://x').pathname);
}

/** Fails when any page logged an error. */
export function assertNoErrors(errors) {
  assert.deepEqual(errors, [], `console errors:\n${errors.join('\n')}`);
}

/**
 * A new browser context whose user registered through the register form,
 * on the chat page once it is live (the Online list shows the user).
 */
export function registerUser(browser, baseURL, username, options = {}) {
  return signIn(browser, baseURL, username, 'register', options);
}

/** Like registerUser, for a user who exists: a new browser logs in through the login form. */
export function logIn(browser, baseURL, username, options = {}) {
  return signIn(browser, baseURL, username, 'login', options);
}

async function signIn(browser, baseURL, username, form, {
  errors, ignore = [], viewport, colorScheme = 'light', ignoreHTTPSErrors = false, password = 'correct horse battery',
} = {}) {
  const context = await browser.newContext({
    baseURL, viewport: viewport || { width: 1280, height: 800 }, colorScheme, ignoreHTTPSErrors,
  });
  const page = await context.newPage();
  if (errors) watchErrors(page, errors, ignore);
  await page.goto(`/${form}`);
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: form === 'register' ? 'Register' : 'Log in' }).click();
  await page.waitForURL(/\/chat/);
  await waitLive(page, username);
  return { context, page, username };
}

/** Server flags for HTTPS with a self-signed certificate kept in `dir`. */
function tlsArgs(dir) {
  return ['--tls', '--certfile', path.join(dir, 'cert.pem'), '--keyfile', path.join(dir, 'key.pem'),
    '--tls-config', path.join(ROOT, 'tls_config.json')];
}

/** Makes an account with `securechat user add` (the password on standard input). */
export function addUser(dataDir, username, password = 'correct horse battery') {
  const r = spawnSync(BIN, ['--data-dir', dataDir, 'user', 'add', username], { input: `${password}\n`, encoding: 'utf8' });
  assert.equal(r.status, 0, `user add ${username} failed: ${r.stderr}`);
}

/**
 * Hooks for a `describe` block: a server with its own data directory, a
 * browser, and one user per name, registered and on the chat page (through
 * a `slowProxy` when `proxy` gives its options). `accounts`: users made
 * with `securechat user add` before the server starts (so before anyone
 * registers), then logged in through the login form. `args`: more server flags;
 * `tls`: HTTPS with a self-signed certificate, which the users' browser
 * contexts accept. `stop()` stops the server, `start()` starts it again on
 * the same port, data and flags; `register(name)` adds a user later.
 * Returns the context the hooks fill: {srv, url, browser, users: {name:
 * {page, …}}, errors, serverLog (what each run printed once listening)}.
 */
export function usersOnServer(tag, names, { ignore = [], proxy = null, args = [], tls = false, accounts = [] } = {}) {
  const dir = tempDir(tag);
  const dataDir = path.join(dir, 'data');
  const serverArgs = tls ? [...tlsArgs(dir), ...args] : args;
  const run = async (port) => {
    ctx.srv = await startServer({ port, dataDir, args: serverArgs });
    for (const out of [ctx.srv.child.stdout, ctx.srv.child.stderr]) {
      out.on('data', (d) => { ctx.serverLog += d; });
    }
  };
  const ctx = {
    srv: null,
    dataDir,
    proxy: null,
    browser: null,
    users: {},
    errors: [],
    serverLog: '',
    /** Where the browsers go: the proxy if there is one, else the server. */
    get url() {
      return ctx.proxy ? ctx.proxy.url : ctx.srv.url;
    },
    stop: () => ctx.srv.stop(),
    start: () => run(ctx.srv.port),
    register: async (name) => {
      ctx.users[name] = await registerUser(ctx.browser, ctx.url, name, { errors: ctx.errors, ignore, ignoreHTTPSErrors: tls });
      return ctx.users[name];
    },
  };
  before(async () => {
    for (const name of accounts) addUser(dataDir, name);
    await run(0);
    if (proxy) ctx.proxy = await slowProxy(ctx.srv.port, proxy);
    ctx.browser = await launchBrowser();
    for (const name of accounts) {
      ctx.users[name] = await logIn(ctx.browser, ctx.url, name, { errors: ctx.errors, ignore, ignoreHTTPSErrors: tls });
    }
    for (const name of names) await ctx.register(name);
  });
  after(async () => {
    if (ctx.browser) await ctx.browser.close();
    if (ctx.proxy) await ctx.proxy.close();
    if (ctx.srv) await ctx.srv.stop();
    removeDir(dir);
  });
  return ctx;
}

/** Waits until the chat page is up and its notifications socket delivered the online list. */
export async function waitLive(page, username) {
  await page.getByRole('list', { name: 'Online', exact: true }).getByText(username, { exact: true }).waitFor();
}

export const log = (page) => page.getByRole('log', { name: 'Messages' });
export const composer = (page) => page.getByRole('textbox', { name: 'Message', exact: true });
export const groupsNav = (page) => page.getByRole('navigation', { name: 'Groups' });
export const dmsNav = (page) => page.getByRole('navigation', { name: 'Direct messages' });

/**
 * Joins public group `name` (id `id`) through its sidebar Join button and
 * waits until it is the open conversation; with `{ loaded: true }` also
 * until its history has loaded to the start.
 */
export async function joinGroup(page, name, id, { loaded = false } = {}) {
  await groupsNav(page).getByRole('listitem').filter({ hasText: name })
    .getByRole('button', { name: 'Join' }).click();
  await page.waitForFunction((g) => window.location.hash === `#group-${g}`, id);
  if (loaded) await log(page).locator('.log-top.start').waitFor();
}

/**
 * Creates a group through the sidebar form; resolves to its id (from the
 * URL hash). Public unless `private` (ticking E2E ticks Private too: it is
 * unticked again unless asked for).
 */
export async function createGroup(page, name, { e2e = false, private: hidden = false } = {}) {
  await page.getByLabel('New group name').fill(name);
  if (e2e) await page.getByLabel('End-to-end encrypted', { exact: true }).check();
  await page.getByLabel('Private', { exact: true }).setChecked(hidden);
  await page.getByRole('button', { name: 'Create group' }).click();
  await page.waitForFunction((n) => document.querySelector('#conv-title .conv-name')?.textContent === n
    && /^#group-\d+$/.test(window.location.hash), name);
  return Number(new URL(page.url()).hash.replace('#group-', ''));
}

/** Types a message and presses Enter; waits until the server acknowledged it. */
export async function send(page, text) {
  await composer(page).fill(text);
  await composer(page).press('Enter');
  try {
    await log(page).locator('.msg:not(.pending) .text', { hasText: text }).last().waitFor();
  } catch (e) {
    e.message += `\npage state: ${await pageState(page).catch((why) => why.message)}`;
    throw e;
  }
}

/** What a failed wait needs to explain itself: the connection banner and the log's messages. */
export function pageState(page) {
  return page.evaluate(() => JSON.stringify({
    banner: document.getElementById('conn-status')?.textContent || '',
    messages: [...document.querySelectorAll('#messages .msg')].map((el) => ({
      id: el.dataset.id,
      cls: el.className,
      text: el.querySelector('.text')?.textContent,
      status: el.querySelector('.status')?.textContent,
    })),
  }));
}

/** Locator for message texts in the log equal to `text`. */
export function messageTexts(page, text) {
  return log(page).locator('.msg .text').filter({ hasText: new RegExp(`^${escapeRe(text)}$`) });
}

export function escapeRe(s) {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * Sends one `message` frame with the fields of `body` to a group from
 * inside a page over its own WebSocket, as no client of ours would (bad
 * input on purpose); resolves to the server's answer, `ack` or `error`.
 */
export function answerTo(page, groupId, body) {
  return page.evaluate(([id, fields]) => new Promise((resolve, reject) => {
    const scheme = window.location.protocol === 'https:' ? 'wss:' : 'ws:';
    const ws = new WebSocket(`${scheme}//${window.location.host}/ws/chat/${id}`);
    const timer = setTimeout(() => reject(new Error('no answer')), 10000);
    ws.onmessage = (ev) => {
      const f = JSON.parse(ev.data);
      if (f.type === 'hello') ws.send(JSON.stringify({ type: 'message', ...fields, client_id: `raw-${Math.random()}` }));
      else if (f.type === 'error' || f.type === 'ack') {
        clearTimeout(timer);
        ws.close();
        resolve(f);
      }
    };
  }), [groupId, body]);
}

/**
 * Sends many messages to a group from inside a page over its own WebSocket
 * (the page's session cookie authenticates it); resolves when all are acked.
 */
export function sendViaSocket(page, groupId, messages) {
  return page.evaluate(([id, list]) => new Promise((resolve, reject) => {
    const scheme = window.location.protocol === 'https:' ? 'wss:' : 'ws:';
    const ws = new WebSocket(`${scheme}//${window.location.host}/ws/chat/${id}`);
    const waiting = new Set();
    const timer = setTimeout(() => reject(new Error(`only ${list.length - waiting.size} of ${list.length} acked`)), 30000);
    ws.onmessage = (ev) => {
      const f = JSON.parse(ev.data);
      if (f.type === 'hello') {
        list.forEach((m, i) => {
          const cid = `seed-${i}-${Math.random()}`;
          waiting.add(cid);
          ws.send(JSON.stringify({ type: 'message', ...(typeof m === 'string' ? { content: m } : m), client_id: cid }));
        });
        if (!list.length) {
          clearTimeout(timer);
          ws.close();
          resolve();
        }
      } else if (f.type === 'ack') {
        waiting.delete(f.client_id);
        if (!waiting.size) {
          clearTimeout(timer);
          ws.close();
          resolve();
        }
      } else if (f.type === 'error') {
        clearTimeout(timer);
        reject(new Error(`${f.code}: ${f.message}`));
      }
    };
    ws.onerror = () => reject(new Error('socket error'));
  }), [groupId, messages]);
}

export function screenshotPath(name) {
  mkdirSync(SCREENSHOTS, { recursive: true });
  return path.join(SCREENSHOTS, name);
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * A TCP proxy in front of `target` (a port on 127.0.0.1) that holds every
 * connection whose first bytes match `hold` (e.g. a WebSocket handshake)
 * for `ms` before passing it on: a slow network, for one kind of request.
 * Resolves to {url, close()}.
 */
export function slowProxy(target, { hold, ms }) {
  const sockets = new Set();
  const server = net.createServer((client) => {
    sockets.add(client);
    client.once('data', (first) => {
      client.pause();
      const upstream = net.connect(target, '127.0.0.1');
      sockets.add(upstream);
      const go = () => {
        upstream.write(first);
        client.pipe(upstream);
        upstream.pipe(client);
        client.resume();
      };
      upstream.once('connect', () => {
        if (hold.test(first.toString('latin1'))) setTimeout(go, ms);
        else go();
      });
      const end = () => {
        client.destroy();
        upstream.destroy();
      };
      upstream.on('error', end);
      upstream.on('close', end);
      client.on('close', end);
    });
    client.on('error', () => client.destroy());
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => resolve({
      url: `http://127.0.0.1:${server.address().port}`,
      close: () => new Promise((done) => {
        for (const s of sockets) s.destroy();
        server.close(() => done());
      }),
    }));
  });
}

/** A valid RGB PNG of `width`×`height`, with `marker` in a tEXt chunk (and in its pixels' seed). */
export function png(width, height, marker = 'securechat test image') {
  const chunk = (type, data) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(zlib.crc32(td));
    return Buffer.concat([len, td, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // RGB
  const rows = [];
  for (let y = 0; y < height; y += 1) {
    const row = Buffer.alloc(1 + width * 3);
    for (let x = 0; x < width; x += 1) {
      row[1 + x * 3] = (x * 6) & 255;
      row[2 + x * 3] = (y * 8) & 255;
      row[3 + x * 3] = marker.length * 7 & 255;
    }
    rows.push(row);
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('tEXt', Buffer.from(`Comment\0${marker}`, 'latin1')),
    chunk('IDAT', zlib.deflateSync(Buffer.concat(rows))),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}
