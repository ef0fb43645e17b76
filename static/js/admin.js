// The admin page. Every button calls the admin JSON API; an action that
// changes something then loads the page again, so each row shows the
// server's state (a disabled account's sessions gone, a promoted user's
// buttons, an invite's uses) and rows are rendered in one place, the
// template. What to say and which control to focus survive the reload in
// sessionStorage. Disabling and demoting ask first. A reset link is shown
// once, to copy; it never goes into storage.

import { api } from './api.js';

const $ = (id) => document.getElementById(id);
const AFTER = 'securechat.admin.after';
const me = document.querySelector('main.admin').dataset.me;

const box = $('admin-messages');
const status = $('admin-status');
const problem = $('admin-error');

function show(text, isError) {
  status.textContent = isError ? '' : text;
  problem.textContent = isError ? text : '';
  box.classList.toggle('shown', Boolean(text));
  box.classList.toggle('error', Boolean(isError));
}
const say = (text) => show(text, false);
const fail = (err) => show(err && err.message ? err.message : 'That did not work.', true);

$('admin-dismiss').addEventListener('click', () => show('', false));

let reloading = false;

/** Loads the page again; then says `text` and focuses `focus` (a selector). */
function reload(text, focus) {
  reloading = true;
  sessionStorage.setItem(AFTER, JSON.stringify({ text, focus }));
  window.location.reload();
}

// Invite links as full URLs, to copy.
for (const input of document.querySelectorAll('input[data-path]')) {
  input.value = new URL(input.dataset.path, window.location.origin).href;
}

const after = JSON.parse(sessionStorage.getItem(AFTER) || 'null');
sessionStorage.removeItem(AFTER);
if (after) {
  say(after.text);
  const target = after.focus && document.querySelector(after.focus);
  if (target) target.focus();
}

// A read-only link field selects itself, ready to copy.
document.addEventListener('focusin', (ev) => {
  if (ev.target.matches('input[readonly]')) ev.target.select();
});

async function copy(input) {
  input.focus();
  try {
    await navigator.clipboard.writeText(input.value);
  } catch {
    // No clipboard API (plain HTTP on another host): copy the selection.
    if (!document.execCommand('copy')) {
      say('Press Ctrl+C (⌘C) to copy the selected link.');
      return;
    }
  }
  say('Link copied.');
}

/** Asks in a modal dialog; resolves to whether the admin said yes. */
function confirmed(title, text, yes) {
  const dialog = $('confirm');
  $('confirm-title').textContent = title;
  $('confirm-text').textContent = text;
  $('confirm-ok').textContent = yes;
  dialog.returnValue = '';
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok'), { once: true });
  });
}

const ASK = {
  disable: (name) => [`Disable ${name}?`, name === me
    ? 'You are logged out at once, everywhere, and cannot log in until another admin enables your account.'
    : `${name} is logged out at once, everywhere, and cannot log in until the account is enabled again.`],
  demote: (name) => [`Demote ${name}?`, name === me
    ? 'You will no longer be a server admin and cannot come back to this page.'
    : `${name} will no longer be a server admin.`],
};
const DONE = { disable: 'disabled', enable: 'enabled', promote: 'now a server admin', demote: 'no longer a server admin' };
const OPPOSITE = { disable: 'enable', enable: 'disable', promote: 'demote', demote: 'promote' };

const rowOf = (name) => `tr[data-username="${CSS.escape(name)}"]`;

function showResetLink(name, r) {
  const out = $('reset-url');
  out.value = new URL(r.url, window.location.origin).href;
  $('reset-label').textContent = `One-time reset link for ${name}`;
  $('reset-result').hidden = false;
  const until = new Date(r.expires_at).toLocaleString([], { dateStyle: 'medium', timeStyle: 'short' });
  say(`Reset link for ${name} made; it works once, until ${until}.`);
  out.focus();
}

async function userAction(op, name) {
  if (ASK[op]) {
    const [title, text] = ASK[op](name);
    const yes = `${op[0].toUpperCase()}${op.slice(1)} ${name}`;
    if (!(await confirmed(title, text, yes))) return;
  }
  const r = await api('POST', `/api/admin/users/${encodeURIComponent(name)}/${op}`);
  if (op === 'reset-link') {
    showResetLink(name, r);
  } else if (name === me && ASK[op]) {
    // This page is no longer ours: disabled, the session ended; demoted, 403.
    reloading = true;
    window.location.assign(op === 'disable' ? '/login?ended=1' : '/chat');
  } else {
    reload(`${name}: ${DONE[op]}.`, `${rowOf(name)} [data-op="${OPPOSITE[op]}"]`);
  }
}

// One action at a time (and none once the page is reloading). Buttons are
// not disabled meanwhile, so focus stays where it was.
let busy = false;

async function run(action) {
  if (busy) return;
  busy = true;
  try {
    await action();
  } catch (err) {
    fail(err);
  } finally {
    busy = reloading;
  }
}

document.querySelector('main.admin').addEventListener('click', (ev) => {
  const button = ev.target.closest('button');
  if (!button) return;
  if ('copy' in button.dataset) {
    copy(button.dataset.copy ? $(button.dataset.copy) : button.closest('.copy-row').querySelector('input'));
    return;
  }
  const op = button.dataset.op;
  const row = button.closest('tr');
  if (op === 'revoke-invite') {
    run(async () => {
      await api('DELETE', `/api/admin/invites/${encodeURIComponent(row.dataset.code)}`);
      reload('Invite revoked.', '#invites-heading');
    });
  } else if (op) {
    run(() => userAction(op, row.dataset.username));
  }
});

$('registration-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const select = $('registration-mode');
  const label = select.selectedOptions[0].textContent;
  run(async () => {
    await api('PUT', '/api/admin/registration', { mode: select.value });
    reload(`Registration saved: ${label}.`, '#registration-mode');
  });
});

$('invite-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const uses = $('invite-uses').value;
  const days = $('invite-days').value;
  const body = {
    max_uses: uses ? Number(uses) : null,
    expires_in_s: days ? Number(days) * 86400 : null,
  };
  run(async () => {
    const r = await api('POST', '/api/admin/invites', body);
    reload('Server invite created: its link is selected, ready to copy.',
      `tr[data-code="${CSS.escape(r.code)}"] input`);
  });
});
