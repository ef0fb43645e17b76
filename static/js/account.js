// The account page's "Devices" list: every device key of this account
// (GET /api/keys), its fingerprint in groups of four, when it was first
// seen and last used, which one is this browser, and Remove (after a
// confirmation: DELETE /api/keys/{fingerprint}). A removed device can no
// longer sign messages; members' browsers warn that the keys changed, and
// if that browser comes back it makes a new key.

import { h, confirmBar, renderList } from './dom.js';
import { api } from './api.js';
import { groupFingerprint, peekDevice } from './keys.js';
import { longTime, iso } from './time.js';

const $ = (id) => document.getElementById(id);

const ui = {
  list: $('devices'),
  empty: $('devices-empty'),
  status: $('devices-status'),
  error: $('devices-error'),
};

let me = null;
let mine = null;

function say(text, isError = false) {
  ui.status.textContent = isError ? '' : text;
  ui.error.textContent = isError ? text : '';
  ui.error.hidden = !isError || !text;
}

function when(ms) {
  if (typeof ms !== 'number' || !ms) return h('span', {}, 'never');
  return h('time', { datetime: iso(ms) }, longTime(ms));
}

function row(d) {
  const fp = String(d.fingerprint || '').toLowerCase();
  const self = fp === mine;
  const label = self ? 'this device' : `device ${groupFingerprint(fp).slice(0, 9)}`;
  const remove = h('button', {
    type: 'button', class: 'ghost small danger-text', 'aria-label': `Remove ${label}`,
  }, 'Remove');
  const li = h('li', { class: `device${self ? ' this-device' : ''}`, dataset: { fk: fp, fingerprint: fp } },
    h('div', { class: 'device-main' },
      h('code', { class: 'fp', 'aria-label': `Fingerprint ${groupFingerprint(fp)}` }, groupFingerprint(fp)),
      self ? h('span', { class: 'fp-this' }, 'this device') : null,
      d.signing_key ? null : h('span', { class: 'device-note' }, 'no signing key yet')),
    h('p', { class: 'device-times' }, 'First seen ', when(d.created_at), ' · Last used ', when(d.last_used_at)),
    remove);
  remove.addEventListener('click', () => {
    if (li.querySelector('.confirm-bar')) return;
    const bar = confirmBar({
      label: `Remove ${label}`,
      text: self
        ? 'Remove this browser\'s key? It will make a new one next time, and cannot read older encrypted messages.'
        : 'Remove this device\'s key? It gets no new encrypted messages and can no longer sign as you. If that browser is still logged in it makes a new key: change your password to log it out.',
      yes: 'Remove key',
      onYes: async () => {
        try {
          await api('DELETE', `/api/keys/${encodeURIComponent(fp)}`);
        } catch (e) {
          if (e.status !== 404) {
            say(e.message || 'The device could not be removed.', true);
            return false;
          }
        }
        say(`Removed the device ${groupFingerprint(fp)}.`);
        await load();
        return true;
      },
      onNo: () => {
        bar.remove();
        remove.hidden = false;
        remove.focus();
      },
    });
    remove.hidden = true;
    li.append(bar);
    bar.cancel.focus();
  });
  return li;
}

async function load() {
  let data;
  try {
    data = await api('GET', '/api/keys');
  } catch (e) {
    say(e.message || 'The devices could not be loaded.', true);
    return;
  }
  const list = (data && Array.isArray(data.devices) ? data.devices : [])
    .filter((d) => d && /^[0-9a-f]{64}$/iu.test(String(d.fingerprint)))
    .sort((a, b) => (b.last_used_at || 0) - (a.last_used_at || 0));
  renderList(ui.list, list, row);
  ui.empty.hidden = list.length > 0;
}

async function init() {
  try {
    me = await api('GET', '/api/me');
  } catch (e) {
    say(e.message || 'The account could not be loaded.', true);
    return;
  }
  const dev = await peekDevice(me).catch(() => null);
  mine = dev ? dev.fingerprint : null;
  await load();
}

init();
