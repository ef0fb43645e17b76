// How a message's attached files look, under its text: images inline (their
// box sized from the width and height the server or the sender measured, so
// nothing moves while they load; a click opens them full size in a dialog)
// and other files as cards with a download link. In encrypted groups the
// bytes are fetched and decrypted here (file-crypto.js) and shown from
// blob: URLs, which are revoked when their message leaves the log or the
// conversation closes. A file that is gone (deleted with its message) says
// so instead of showing a broken image. Everything is built with h().

import { h, icon } from './dom.js';
import { humanSize } from './uploads.js';
import { decryptFile, FileGone, INLINE_TYPES } from './file-crypto.js';

const GONE = 'File no longer available';

/** What a file's card says about its type: "PDF", "ZIP", else the MIME type. */
function typeLabel(type, name) {
  const ext = /\.([A-Za-z0-9]{1,8})$/u.exec(name || '');
  if (ext) return ext[1].toUpperCase();
  return type || 'File';
}

function goneNote(name) {
  return h('div', { class: 'att-gone', role: 'note', title: name }, icon('alert', { size: 14 }), GONE);
}

/** The one full-size image dialog of the page (Escape or the close button closes it). */
let viewer = null;

function openViewer(src, name, href) {
  if (!viewer) {
    const img = h('img', { class: 'viewer-img', alt: '' });
    const title = h('span', { class: 'viewer-name' });
    const link = h('a', { class: 'viewer-open', target: '_blank', rel: 'noopener' }, 'Open original');
    const close = h('button', { type: 'button', class: 'icon-btn viewer-close', 'aria-label': 'Close image' }, icon('close', { size: 18 }));
    const dialog = h('dialog', { class: 'image-viewer', 'aria-label': 'Image' },
      h('div', { class: 'viewer-bar' }, title, link, close), img);
    close.addEventListener('click', () => dialog.close());
    // A click on the backdrop (the dialog itself, outside the image) closes it.
    dialog.addEventListener('click', (e) => {
      if (e.target === dialog) dialog.close();
    });
    dialog.addEventListener('close', () => img.removeAttribute('src'));
    document.body.append(dialog);
    viewer = { dialog, img, title, link };
  }
  viewer.img.src = src;
  viewer.img.alt = name;
  viewer.title.textContent = name;
  viewer.dialog.setAttribute('aria-label', name);
  viewer.link.href = href;
  if (!viewer.dialog.open) viewer.dialog.showModal();
  viewer.dialog.querySelector('.viewer-close').focus();
}

/** Closes the full-size image (the conversation closed, or its message went). */
export function closeViewer(src = null) {
  if (viewer && viewer.dialog.open && (src === null || viewer.img.src === src)) viewer.dialog.close();
}

/** An inline image: a button that opens it full size. `src` may come later (E2E). */
function imageTile(name, width, height, src, href) {
  const img = h('img', {
    class: 'att-img', alt: name, width: String(width), height: String(height), loading: 'lazy', decoding: 'async',
  });
  const tile = h('button', {
    type: 'button',
    class: 'att-image',
    title: name,
    'aria-label': `Open ${name} full size`,
    onclick: () => {
      if (img.getAttribute('src')) openViewer(img.src, name, href || img.src);
    },
  }, img);
  img.addEventListener('error', () => {
    if (tile.isConnected || tile.parentNode) tile.replaceWith(goneNote(name));
  });
  if (src) img.src = src;
  else tile.classList.add('loading');
  tile.img = img;
  return tile;
}

/** A file card: name, size, type and a link that downloads it. */
function fileCard(name, size, type, href) {
  const link = h('a', { class: 'att-download', href, download: name, 'aria-label': `Download ${name}` }, 'Download');
  const card = h('div', { class: 'att-file' },
    h('span', { class: 'att-file-icon', 'aria-hidden': 'true' }, typeLabel(type, name).slice(0, 4)),
    h('span', { class: 'att-file-main' },
      h('span', { class: 'att-file-name', title: name }, name),
      h('span', { class: 'att-file-meta' }, `${humanSize(size)} · ${typeLabel(type, name)}`)),
    link);
  card.link = link;
  return card;
}

/** The attachments of the messages in one conversation's log, and their blob: URLs. */
export class AttachmentView {
  constructor() {
    /** message element → {gen, urls: Set} */
    this.owned = new Map();
    this.gen = 0;
  }

  /**
   * Shows message `m`'s attachments in its element `el` (replacing what it
   * showed). `decoded`: the codec's result for its text ({failed, files}:
   * in E2E groups the decrypted keys and metadata); `e2e`: the group is
   * end-to-end encrypted.
   */
  fill(el, m, decoded, e2e) {
    this.release(el);
    const old = el.querySelector(':scope .attachments');
    const server = Array.isArray(m.attachments) ? m.attachments.filter((f) => f && typeof f.id === 'number') : [];
    let parts = [];
    if (server.length && !(decoded && decoded.failed)) {
      if (e2e) {
        const gen = ++this.gen;
        this.owned.set(el, { gen, urls: new Set() });
        const metas = new Map(((decoded && decoded.files) || []).map((f) => [f.id, f]));
        parts = server.map((f) => this.encrypted(el, gen, f, metas.get(f.id)));
      } else parts = server.map((f) => this.plain(f));
    }
    if (!parts.length) {
      if (old) old.remove();
      return;
    }
    const box = h('div', { class: 'attachments' }, parts);
    if (old) old.replaceWith(box);
    else el.querySelector('.text').after(box);
  }

  plain(f) {
    if (f.width > 0 && f.height > 0) return imageTile(f.name, f.width, f.height, f.url, f.url);
    return fileCard(f.name, f.size, f.content_type, f.url);
  }

  /** An encrypted file: decrypted now (images) or on the first click (other files). */
  encrypted(el, gen, f, meta) {
    if (!meta) {
      return h('div', { class: 'att-gone', role: 'note' }, icon('lock', { size: 14 }), 'An encrypted file this message carries no key for');
    }
    const keep = (blob) => {
      const url = URL.createObjectURL(blob);
      const own = this.owned.get(el);
      // The message left the log (or was shown again) meanwhile.
      if (!own || own.gen !== gen) {
        URL.revokeObjectURL(url);
        return null;
      }
      own.urls.add(url);
      return url;
    };
    const failed = (node, e) => {
      const note = e instanceof FileGone ? goneNote(meta.name)
        : h('div', { class: 'att-gone', role: 'note' }, icon('alert', { size: 14 }), 'This file could not be decrypted');
      node.replaceWith(note);
    };
    if (meta.width && meta.height && INLINE_TYPES.has(meta.type)) {
      const tile = imageTile(meta.name, meta.width, meta.height, null, null);
      decryptFile(f.url, meta).then((blob) => {
        const url = keep(blob);
        if (!url) return;
        tile.classList.remove('loading');
        tile.img.src = url;
      }, (e) => failed(tile, e));
      return tile;
    }
    const card = fileCard(meta.name, meta.size, meta.type, '#');
    card.link.addEventListener('click', async (e) => {
      if (card.link.dataset.ready) return;
      e.preventDefault();
      if (card.link.dataset.busy) return;
      card.link.dataset.busy = '1';
      card.link.textContent = 'Decrypting…';
      try {
        const url = keep(await decryptFile(f.url, meta));
        if (!url) return;
        card.link.href = url;
        card.link.dataset.ready = '1';
        card.link.textContent = 'Download';
        card.link.click();
      } catch (err) {
        failed(card, err);
      } finally {
        delete card.link.dataset.busy;
      }
    });
    return card;
  }

  /** Revokes the blob: URLs of message element `el` (it leaves the log, or is shown again). */
  release(el) {
    const own = this.owned.get(el);
    if (!own) return;
    this.owned.delete(el);
    for (const url of own.urls) {
      closeViewer(url);
      URL.revokeObjectURL(url);
    }
  }

  /** The conversation closed. */
  releaseAll() {
    for (const el of [...this.owned.keys()]) this.release(el);
    closeViewer();
  }
}
