// The composer's files: what the user picked (the paperclip's file chooser),
// dropped on the conversation or pasted, each shown as a chip above the
// message box (name, size, progress, a button that cancels or removes it,
// and what went wrong). Every file starts uploading at once (in an
// encrypted group it is encrypted first: file-crypto.js), so that Send only
// has to wait for the ones still running; take() hands the finished ones to
// the message being sent. Sizes are checked against the server's limit
// (the page's `max-upload` meta) before anything is sent.

import { h, icon } from './dom.js';
import { csrfToken } from './api.js';
import { encryptFile, OVERHEAD } from './file-crypto.js';

/** The server takes at most this many attachments per message. */
export const MAX_FILES = 10;

/** "740 B", "12 KiB", "1.2 MiB": sizes as the server writes them. */
export function humanSize(bytes) {
  const n = Number(bytes) || 0;
  const MIB = 1024 * 1024;
  if (n < 1024) return `${n} B`;
  if (n < MIB) return `${Math.ceil(n / 1024)} KiB`;
  if (n < 1024 * MIB) return `${(n / MIB).toFixed(1)} MiB`;
  return `${(n / (1024 * MIB)).toFixed(1)} GiB`;
}

/** The largest upload the server takes (bytes), from the page. */
export function maxUpload() {
  const meta = document.querySelector('meta[name="max-upload"]');
  const n = meta ? Number(meta.getAttribute('content')) : NaN;
  return Number.isFinite(n) && n > 0 ? n : 25 * 1024 * 1024;
}

export class UploadError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

const SERVER_TEXT = {
  0: 'The upload failed: the server cannot be reached.',
  403: 'You cannot send files in this conversation.',
  404: 'You cannot send files in this conversation.',
  507: 'The server has no room for this file right now.',
};

/**
 * POSTs `body` to the group's files with XHR (for its upload progress):
 * {promise (→ the file object), abort()}. `onProgress(fraction)`.
 */
export function uploadFile(groupId, body, { name, type }, onProgress) {
  const xhr = new XMLHttpRequest();
  const promise = new Promise((resolve, reject) => {
    xhr.open('POST', `/api/groups/${groupId}/files`);
    xhr.setRequestHeader('Content-Type', type || 'application/octet-stream');
    xhr.setRequestHeader('X-Filename', encodeURIComponent(name));
    xhr.setRequestHeader('X-CSRF-Token', csrfToken());
    xhr.setRequestHeader('Accept', 'application/json');
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable && e.total) onProgress(e.loaded / e.total);
    };
    xhr.onload = () => {
      let data = null;
      try {
        data = JSON.parse(xhr.responseText);
      } catch {
        data = null;
      }
      if (xhr.status === 201 && data && typeof data.id === 'number') {
        resolve(data);
        return;
      }
      if (xhr.status === 401) window.location.assign('/login?ended=1');
      const message = (data && data.message) || SERVER_TEXT[xhr.status] || `The upload failed (${xhr.status}).`;
      reject(new UploadError(xhr.status, message));
    };
    xhr.onerror = () => reject(new UploadError(0, SERVER_TEXT[0]));
    xhr.onabort = () => reject(new UploadError(-1, 'Cancelled'));
    xhr.send(body);
  });
  return { promise, abort: () => xhr.abort() };
}

/** The files of one conversation's composer. */
export class Uploads {
  /**
   * @param groupId  where the files go
   * @param codec    the conversation's codec (e2e: encrypt before uploading)
   * @param alert    the page's alert(text)
   */
  constructor(groupId, codec, alert) {
    this.groupId = groupId;
    this.codec = codec;
    this.alert = alert;
    /** The chips, in the order added: {file, name, size, state, progress, result, meta, abort, done, claimed, el…} */
    this.items = [];
    this.list = document.getElementById('pending-files');
    this.button = document.getElementById('attach-btn');
    this.input = document.getElementById('file-input');
    this.textarea = document.getElementById('composer-input');
    this.zone = this.textarea ? this.textarea.closest('.main-col') : null;
    this.handlers = {
      pick: () => {
        if (this.input && this.codec.canSend) this.input.click();
      },
      picked: () => {
        this.add([...this.input.files]);
        this.input.value = '';
      },
      paste: (e) => {
        const files = e.clipboardData ? [...e.clipboardData.files] : [];
        if (!files.length) return;
        e.preventDefault();
        this.add(files);
      },
      over: (e) => {
        if (!hasFiles(e) || !this.codec.canSend) return;
        e.preventDefault();
        e.dataTransfer.dropEffect = 'copy';
        this.zone.classList.add('drop-target');
      },
      leave: (e) => {
        if (!e.relatedTarget || !this.zone.contains(e.relatedTarget)) this.zone.classList.remove('drop-target');
      },
      drop: (e) => {
        this.zone.classList.remove('drop-target');
        if (!hasFiles(e)) return;
        e.preventDefault();
        if (this.codec.canSend) this.add([...e.dataTransfer.files]);
      },
    };
  }

  /** Listens to the paperclip, the file chooser, paste and drops. */
  attach() {
    const on = (el, type, fn) => el && el.addEventListener(type, fn);
    on(this.button, 'click', this.handlers.pick);
    on(this.input, 'change', this.handlers.picked);
    on(this.textarea, 'paste', this.handlers.paste);
    on(this.zone, 'dragover', this.handlers.over);
    on(this.zone, 'dragleave', this.handlers.leave);
    on(this.zone, 'drop', this.handlers.drop);
    this.render();
    return this;
  }

  /** Stops listening and cancels everything (the conversation closed). */
  detach() {
    const off = (el, type, fn) => el && el.removeEventListener(type, fn);
    off(this.button, 'click', this.handlers.pick);
    off(this.input, 'change', this.handlers.picked);
    off(this.textarea, 'paste', this.handlers.paste);
    off(this.zone, 'dragover', this.handlers.over);
    off(this.zone, 'dragleave', this.handlers.leave);
    off(this.zone, 'drop', this.handlers.drop);
    if (this.zone) this.zone.classList.remove('drop-target');
    for (const item of this.items) if (item.abort) item.abort();
    this.items = [];
    this.render();
  }

  /** Whether a message could be sent with files only. */
  get hasFiles() {
    return this.items.some((i) => !i.claimed && (i.state === 'done' || i.state === 'uploading' || i.state === 'encrypting'));
  }

  /** Adds files and starts their uploads. */
  add(files) {
    if (!files.length) return;
    if (!this.codec.canSend) {
      this.alert(this.codec.reason || 'You cannot send files here.');
      return;
    }
    const room = MAX_FILES - this.items.filter((i) => i.state !== 'failed').length;
    if (files.length > room) {
      this.alert(`A message can carry at most ${MAX_FILES} files.`);
      files = files.slice(0, Math.max(0, room));
    }
    for (const file of files) {
      const item = {
        file, name: file.name || 'file', size: file.size, state: 'uploading', progress: 0, claimed: false,
      };
      this.items.push(item);
      this.start(item);
    }
    this.render();
  }

  start(item) {
    const max = maxUpload();
    const limit = this.codec.e2e ? max - OVERHEAD : max;
    if (item.size === 0) return this.fail(item, 'This file is empty.');
    if (item.size > limit) {
      return this.fail(item, `${item.name} is ${humanSize(item.size)}: files may be at most ${humanSize(limit)}.`);
    }
    item.done = (async () => {
      try {
        let body = item.file;
        let head = { name: item.name, type: item.file.type || 'application/octet-stream' };
        if (this.codec.e2e) {
          item.state = 'encrypting';
          this.paint(item);
          const sealed = await encryptFile(item.file);
          if (item.state === 'cancelled') return;
          body = sealed.blob;
          item.meta = sealed.meta;
          head = { name: 'encrypted', type: 'application/octet-stream' };
          item.state = 'uploading';
          this.paint(item);
        }
        const up = uploadFile(this.groupId, body, head, (p) => {
          item.progress = p;
          this.paint(item);
        });
        item.abort = up.abort;
        item.result = await up.promise;
        item.abort = null;
        if (item.meta) item.meta.id = item.result.id;
        item.state = 'done';
        item.progress = 1;
        this.paint(item);
      } catch (e) {
        item.abort = null;
        if (item.state !== 'cancelled') this.fail(item, e.message || 'The upload failed.');
      }
    })();
    return undefined;
  }

  fail(item, text) {
    item.state = 'failed';
    item.error = text;
    if (!item.done) item.done = Promise.resolve();
    this.paint(item);
  }

  /** Cancels (while it runs) or removes a chip. */
  remove(item) {
    const was = item.state;
    item.state = 'cancelled';
    if (item.abort) item.abort();
    this.items = this.items.filter((i) => i !== item);
    this.render();
    if (was !== 'failed' && this.textarea) this.textarea.focus();
  }

  /**
   * For Send: claims the files not yet claimed, waits for their uploads,
   * and resolves to the finished ones [{result (the file object), meta
   * (E2E: its key and metadata)}]. Failed ones stay as chips; give the
   * claimed ones back with release() if the message is not sent, or drop
   * them with consume() when it is.
   */
  async take() {
    const claimed = this.items.filter((i) => !i.claimed && i.state !== 'failed');
    for (const i of claimed) {
      i.claimed = true;
      this.paint(i);
    }
    await Promise.all(claimed.map((i) => i.done));
    return claimed.filter((i) => i.state === 'done');
  }

  release(items) {
    for (const i of items) {
      i.claimed = false;
      this.paint(i);
    }
  }

  consume(items) {
    this.items = this.items.filter((i) => !items.includes(i));
    this.render();
  }

  // ------------------------------------------------------------- chips

  render() {
    if (!this.list) return;
    this.list.replaceChildren(...this.items.map((item) => this.chip(item)));
    this.list.hidden = !this.items.length;
  }

  chip(item) {
    const bar = h('span', { class: 'pending-file-fill' });
    const progress = h('span', {
      class: 'pending-file-progress', role: 'progressbar', 'aria-label': `Upload of ${item.name}`, 'aria-valuemin': '0', 'aria-valuemax': '100',
    }, bar);
    const status = h('span', { class: 'pending-file-status' });
    const error = h('span', { class: 'pending-file-error', role: 'alert' });
    const remove = h('button', { type: 'button', class: 'icon-btn pending-file-remove', onclick: () => this.remove(item) }, icon('close', { size: 14 }));
    item.el = h('li', { class: 'pending-file' },
      h('span', { class: 'pending-file-main' },
        h('span', { class: 'pending-file-name', title: item.name }, item.name),
        h('span', { class: 'pending-file-size' }, humanSize(item.size)),
        status),
      progress, error, remove);
    Object.assign(item, {
      bar, progressEl: progress, statusEl: status, errorEl: error, removeEl: remove,
    });
    this.paint(item);
    return item.el;
  }

  /** Brings one chip up to date. */
  paint(item) {
    if (!item.el) return;
    const pct = Math.round((item.progress || 0) * 100);
    item.el.className = `pending-file ${item.state}${item.claimed ? ' claimed' : ''}`;
    item.progressEl.setAttribute('aria-valuenow', String(pct));
    item.progressEl.hidden = item.state === 'failed';
    item.bar.style.width = `${pct}%`;
    const running = item.state === 'uploading' || item.state === 'encrypting';
    const label = running ? `Cancel upload of ${item.name}` : `Remove ${item.name}`;
    item.removeEl.setAttribute('aria-label', label);
    item.removeEl.title = running ? 'Cancel upload' : 'Remove';
    let status = '';
    if (item.state === 'encrypting') status = 'Encrypting…';
    else if (item.state === 'uploading') status = item.claimed ? `Sending when uploaded · ${pct}%` : `${pct}%`;
    else if (item.state === 'done') status = 'Ready';
    item.statusEl.textContent = status;
    item.errorEl.textContent = item.state === 'failed' ? item.error : '';
    item.errorEl.hidden = item.state !== 'failed';
  }
}

function hasFiles(e) {
  return !!e.dataTransfer && [...e.dataTransfer.types].includes('Files');
}
