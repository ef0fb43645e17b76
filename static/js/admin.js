// The admin page: each button calls the admin JSON API and the page is
// read again, so what it shows is always the server's state. A reset
// link is shown once, to copy.

import { api } from './api.js';

const $ = (id) => document.getElementById(id);
const status = $('admin-status');
const problem = $('admin-error');

function say(text) {
  problem.hidden = true;
  status.textContent = text;
}

function fail(err) {
  status.textContent = '';
  problem.textContent = err && err.message ? err.message : 'That did not work.';
  problem.hidden = false;
}

async function run(fn, done) {
  try {
    const result = await fn();
    if (done) done(result);
  } catch (err) {
    fail(err);
  }
}

const reload = (text) => () => {
  sessionStorage.setItem('securechat.admin.notice', text);
  window.location.reload();
};

const notice = sessionStorage.getItem('securechat.admin.notice');
if (notice) {
  sessionStorage.removeItem('securechat.admin.notice');
  say(notice);
}

document.querySelector('main.admin').addEventListener('click', (ev) => {
  const button = ev.target.closest('button[data-op]');
  if (!button) return;
  const op = button.dataset.op;
  const row = button.closest('tr');
  if (op === 'revoke-invite') {
    const code = row.dataset.code;
    run(() => api('DELETE', `/api/admin/invites/${encodeURIComponent(code)}`), reload('Invite revoked.'));
    return;
  }
  const name = row.dataset.username;
  const path = `/api/admin/users/${encodeURIComponent(name)}/${op}`;
  if (op === 'reset-link') {
    run(() => api('POST', path), (r) => {
      const out = $('reset-url');
      out.value = new URL(r.url, window.location.origin).href;
      $('reset-result').hidden = false;
      say(`Reset link for ${name} made; it works once, for 24 hours.`);
      out.focus();
      out.select();
    });
    return;
  }
  const done = { disable: 'disabled', enable: 'enabled', promote: 'made an admin', demote: 'no longer an admin' }[op];
  run(() => api('POST', path), reload(`${name}: ${done}.`));
});

$('registration-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const mode = $('registration-mode').value;
  run(() => api('PUT', '/api/admin/registration', { mode }), reload(`Registration is now ${mode}.`));
});

$('invite-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const uses = $('invite-uses').value;
  const days = $('invite-days').value;
  const body = {
    max_uses: uses ? Number(uses) : null,
    expires_in_s: days ? Number(days) * 86400 : null,
  };
  run(() => api('POST', '/api/admin/invites', body), reload('Server invite created.'));
});
