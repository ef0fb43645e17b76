// A large room in the browser: above 100 online users the server sends
// `presence_delta` frames (what changed) instead of the whole list, and the
// page's "In this group" list must follow them. 105 users registered over
// HTTP from Node hold raw WebSockets open on the group while one browser
// watches; 5 leave and 5 others arrive, and the page's list must end equal
// to who is online — which, above 100, only deltas can tell it.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import * as H from './helpers.mjs';

const PASSWORD = 'correct horse battery';
const EARLY = 105; // online from Node before the churn: 106 with the page's user
const LATE = 5; // arrive during the churn while as many leave
const WATCHER = 'watcher';

/** `name=value` pairs of a response's Set-Cookie headers, into `jar`. */
function absorb(jar, res) {
  for (const c of res.headers.getSetCookie()) {
    const [pair] = c.split(';');
    const eq = pair.indexOf('=');
    const name = pair.slice(0, eq).trim();
    const value = pair.slice(eq + 1).trim();
    if (!value || /Max-Age=0/i.test(c)) jar.delete(name);
    else jar.set(name, value);
  }
}

const cookieHeader = (jar) => [...jar].map(([k, v]) => `${k}=${v}`).join('; ');

/** Registers `username` through the form over HTTP; resolves to {username, cookie, csrf}. */
async function registerHttp(base, username) {
  const jar = new Map();
  let res = await fetch(`${base}/register`);
  absorb(jar, res);
  const token = /name="csrf_token" value="([^"]+)"/.exec(await res.text())?.[1];
  assert.ok(token, `no csrf_token on /register for ${username}`);
  res = await fetch(`${base}/register`, {
    method: 'POST',
    redirect: 'manual',
    headers: { Cookie: cookieHeader(jar), 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ username, password: PASSWORD, csrf_token: token }).toString(),
  });
  assert.equal(res.status, 303, `register ${username}: ${await res.text()}`);
  absorb(jar, res);
  res = await fetch(`${base}/chat`, { headers: { Cookie: cookieHeader(jar) } });
  assert.equal(res.status, 200, `/chat for ${username}`);
  const csrf = /<meta name="csrf-token" content="([^"]+)">/.exec(await res.text())?.[1];
  assert.ok(csrf, `no csrf-token meta on /chat for ${username}`);
  return { username, cookie: cookieHeader(jar), csrf };
}

/** A JSON POST as `u`; resolves to the parsed answer, asserting the status. */
async function postJson(base, u, pathname, body, status) {
  const res = await fetch(`${base}${pathname}`, {
    method: 'POST',
    headers: { Cookie: u.cookie, 'X-CSRF-Token': u.csrf, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  assert.equal(res.status, status, `POST ${pathname} as ${u.username}: ${text}`);
  return text ? JSON.parse(text) : null;
}

/** Runs `fn` over `items`, `width` at a time. */
async function pool(items, width, fn) {
  const out = new Array(items.length);
  let next = 0;
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i], i);
    }
  }));
  return out;
}

/**
 * Opens /ws/chat/{groupId} as `u` by hand (Node's WebSocket cannot send a
 * Cookie); resolves to the raw socket once the server answered 101. Frames
 * are read and dropped; the test ends before the server's 30 s ping.
 */
function openRoomSocket(srv, u, groupId) {
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: '127.0.0.1',
      port: srv.port,
      path: `/ws/chat/${groupId}`,
      headers: {
        Connection: 'Upgrade',
        Upgrade: 'websocket',
        'Sec-WebSocket-Version': '13',
        'Sec-WebSocket-Key': randomBytes(16).toString('base64'),
        Cookie: u.cookie,
        Origin: srv.url,
        Host: `127.0.0.1:${srv.port}`,
      },
    });
    req.on('upgrade', (res, socket) => {
      socket.on('data', () => {});
      socket.on('error', () => {});
      resolve(socket);
    });
    req.on('response', (res) => reject(new Error(`${u.username}: upgrade refused with ${res.statusCode}`)));
    req.on('error', reject);
    req.end();
  });
}

/** Sends a (masked, empty) close frame and ends the socket. */
function closeSocket(socket) {
  if (socket.destroyed) return;
  try {
    socket.write(Buffer.concat([Buffer.from([0x88, 0x80]), randomBytes(4)]));
  } catch {
    /* already gone */
  }
  socket.end();
  setTimeout(() => socket.destroy(), 200).unref();
}

/**
 * Before the page's scripts: every frame a /ws/chat/ socket receives, as {type, n}, in order;
 * and the type of every frame the notifications socket (/ws) receives.
 */
function recordRoomFrames() {
  const Native = window.WebSocket;
  window.__roomFrames = [];
  window.__wsFrames = [];
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      if (/\/ws$/.test(String(args[0]))) {
        this.addEventListener('message', (ev) => {
          try {
            window.__wsFrames.push(JSON.parse(ev.data).type);
          } catch {
            window.__wsFrames.push('(unreadable)');
          }
        });
      }
      if (String(args[0]).includes('/ws/chat/')) {
        this.addEventListener('message', (ev) => {
          try {
            const f = JSON.parse(ev.data);
            const n = f.type === 'presence' ? (f.users || []).length
              : f.type === 'hello' ? (f.online || []).length : undefined;
            window.__roomFrames.push({ type: f.type, n, joined: f.joined?.length, left: f.left?.length });
          } catch {
            window.__roomFrames.push({ type: '(unreadable)' });
          }
        });
      }
    }
  };
}

describe('a room above 100 online users', () => {
  const dir = H.tempDir('large-room');
  const errors = [];
  const sockets = new Map(); // username → raw socket
  let srv;
  let browser;
  let page;
  let groupId;
  let early;
  let late;

  const inGroup = () => page.getByRole('list', { name: 'In this group' });
  /** The page's "In this group" names, sorted, and its count. */
  const shown = () => page.evaluate(() => ({
    names: [...document.querySelectorAll('#group-online .person .uname')].map((e) => e.textContent).sort(),
    count: document.getElementById('members-count').textContent,
  }));
  const expected = () => [WATCHER, ...sockets.keys()].sort();
  /** Waits until the list shows exactly who is online; fails with both lists. */
  async function waitShown(what) {
    const want = expected();
    try {
      await page.waitForFunction((names) => {
        const got = [...document.querySelectorAll('#group-online .person .uname')].map((e) => e.textContent).sort();
        return document.getElementById('members-count').textContent === String(names.length)
          && got.length === names.length && got.every((n, i) => n === names[i]);
      }, want, { timeout: 20000 });
    } catch (e) {
      const got = await shown();
      const missing = want.filter((n) => !got.names.includes(n));
      const extra = got.names.filter((n) => !want.includes(n));
      e.message = `${what}: the list shows ${got.names.length} (count ${got.count}), ${want.length} online; `
        + `missing ${JSON.stringify(missing)}, extra ${JSON.stringify(extra)}\n${e.message}`;
      throw e;
    }
  }
  const frames = () => page.evaluate(() => window.__roomFrames);

  before(async () => {
    srv = await H.startServer({
      dataDir: path.join(dir, 'data'),
      args: ['--join-rate', '0', '--socket-rate', '0', '--group-rate', '0'],
    });
    const names = [
      ...Array.from({ length: EARLY }, (_, i) => `early${String(i).padStart(3, '0')}`),
      ...Array.from({ length: LATE }, (_, i) => `late${String(i).padStart(3, '0')}`),
    ];
    const users = await pool(names, 8, (n) => registerHttp(srv.url, n));
    early = users.slice(0, EARLY);
    late = users.slice(EARLY);
    ({ id: groupId } = await postJson(srv.url, early[0], '/api/groups', { name: 'everyone' }, 201));
    await pool(users.slice(1), 8, (u) => postJson(srv.url, u, `/api/groups/${groupId}/join`, undefined, 200));

    browser = await H.launchBrowser();
    ({ page } = await H.registerUser(browser, srv.url, WATCHER, { errors }));
    // Record the room socket's frames from the page's first script on.
    await page.context().addInitScript(recordRoomFrames);
    await page.reload();
    await H.waitLive(page, WATCHER);
    await H.joinGroup(page, 'everyone', groupId);
    await inGroup().getByText(WATCHER, { exact: true }).waitFor();
  });

  after(async () => {
    for (const s of sockets.values()) closeSocket(s);
    sockets.clear();
    if (browser) await browser.close();
    if (srv) await srv.stop();
    H.removeDir(dir);
  });

  test('the page lists everyone online, then follows 5 leaving and 5 arriving through presence_delta', async () => {
    // 105 sockets from Node: the room passes 100 on the way.
    const opened = await pool(early, 16, (u) => openRoomSocket(srv, u, groupId));
    early.forEach((u, i) => sockets.set(u.username, opened[i]));
    await waitShown('with 106 online');
    const { count } = await shown();
    assert.equal(count, String(EARLY + 1));
    // Some deltas reached the page once the room grew past 100.
    const grown = await frames();
    const firstDelta = grown.findIndex((f) => f.type === 'presence_delta');
    assert.ok(firstDelta >= 0, `no presence_delta while 106 came online: ${JSON.stringify(grown)}`);
    const listsAfter = grown.slice(firstDelta).filter((f) => f.type === 'presence');
    assert.deepEqual(listsAfter, [], 'whole presence lists after the room passed 100');
    const mark = grown.length;

    // 5 leave (spread over the list) while 5 others arrive.
    const leaving = ['early001', 'early030', 'early057', 'early088', 'early104'];
    for (const name of leaving) {
      closeSocket(sockets.get(name));
      sockets.delete(name);
    }
    const arrived = await Promise.all(late.map((u) => openRoomSocket(srv, u, groupId)));
    late.forEach((u, i) => sockets.set(u.username, arrived[i]));
    await waitShown('after 5 left and 5 arrived');
    const after = await shown();
    assert.equal(after.count, String(EARLY + 1));
    for (const name of leaving) assert.ok(!after.names.includes(name), `${name} is still listed`);
    for (const u of late) assert.ok(after.names.includes(u.username), `${u.username} is not listed`);

    // The churn came as deltas only: the room never dropped to 100.
    const churn = (await frames()).slice(mark);
    const kinds = churn.map((f) => f.type);
    assert.ok(kinds.includes('presence_delta'), `no presence_delta during the churn: ${JSON.stringify(churn)}`);
    assert.ok(!kinds.includes('presence'), `a whole presence list during the churn: ${JSON.stringify(churn)}`);
    assert.ok(!kinds.includes('hello'), `the page's socket reconnected: ${JSON.stringify(churn)}`);

    // The sidebar's server-wide "Online" list followed too, through online_delta on /ws
    // (106 users online anywhere is also above 100).
    const want = expected();
    await page.waitForFunction((names) => {
      const got = [...document.querySelectorAll('#online .person .uname')].map((e) => e.textContent).sort();
      return document.getElementById('online-count').textContent === String(names.length)
        && got.length === names.length && got.every((n, i) => n === names[i]);
    }, want, { timeout: 20000 });
    const ws = await page.evaluate(() => window.__wsFrames);
    assert.equal(ws[0], 'online', `the first /ws frame: ${JSON.stringify(ws)}`);
    assert.ok(ws.includes('online_delta'), `no online_delta on /ws: ${JSON.stringify(ws)}`);
    const lastList = ws.lastIndexOf('online');
    assert.ok(ws.slice(lastList).includes('online_delta'), 'deltas after the last whole list');

    // Someone who joins the group now and opens it shows up in the members panel: a room
    // this large sends no "newcomer joined" line, so the delta is what says it.
    const roster = page.getByRole('list', { name: 'Members', exact: true });
    await roster.getByText('early000', { exact: true }).waitFor();
    const newcomer = await registerHttp(srv.url, 'newcomer');
    await postJson(srv.url, newcomer, `/api/groups/${groupId}/join`, undefined, 200);
    sockets.set(newcomer.username, await openRoomSocket(srv, newcomer, groupId));
    await roster.getByText('newcomer', { exact: true }).waitFor({ timeout: 10000 });
    H.assertNoErrors(errors);
  });
});
