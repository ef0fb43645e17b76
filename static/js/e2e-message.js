// The plaintext inside an end-to-end encrypted message's envelope: what it
// says, and — since files in encrypted groups are encrypted with their own
// keys (file-crypto.js) that must reach the readers but not the server —
// the keys of its attached files. The envelope itself ({iv, ciphertext,
// keys}) is checked by the server and can carry nothing else.
//
// Format (version 1 and 2 coexist; a reader tells them apart):
//
//   version 1 — the whole plaintext is the message text (UTF-8). Every
//   message without attachments is still sent like this, so clients that
//   predate files read them as before.
//
//   version 2 — a JSON object:
//     {"securechat": "message/2",
//      "text": "the caption (may be empty)",
//      "files": [{"id": 12,            // the server's file id (in the message's attachments)
//                 "key": "base64",     // raw AES-256-GCM key of this file
//                 "iv": "base64",      // its 96-bit IV
//                 "name": "photo.png", "type": "image/png", "size": 1234,
//                 "width": 40, "height": 30}]}   // width/height null for non-images
//   An older client shows this JSON as the text: the caption is readable in it.
//
// A text that itself looks like a version 2 object is sent as version 2
// (its "text" is the whole of it), so no text can be mistaken for files.

export const MARK = 'message/2';
const MAX_NAME = 200;

function isV2(value) {
  return !!value && typeof value === 'object' && !Array.isArray(value)
    && value.securechat === MARK && typeof value.text === 'string' && Array.isArray(value.files);
}

function parsed(plain) {
  if (!plain.startsWith('{')) return null;
  try {
    const v = JSON.parse(plain);
    return isV2(v) ? v : null;
  } catch {
    return null;
  }
}

const dim = (n) => (Number.isInteger(n) && n > 0 && n <= 100000 ? n : null);

/** One file's metadata, checked (it came from another member's client); null if unusable. */
function cleanFile(f) {
  if (!f || typeof f !== 'object') return null;
  if (!Number.isInteger(f.id) || f.id <= 0 || typeof f.key !== 'string' || typeof f.iv !== 'string') return null;
  const width = dim(f.width);
  const height = dim(f.height);
  return {
    id: f.id,
    key: f.key,
    iv: f.iv,
    name: typeof f.name === 'string' && f.name ? [...f.name].slice(0, MAX_NAME).join('') : 'file',
    type: typeof f.type === 'string' ? f.type.slice(0, 100) : 'application/octet-stream',
    size: Number.isFinite(f.size) && f.size >= 0 ? f.size : 0,
    width: width && height ? width : null,
    height: width && height ? height : null,
  };
}

/** The plaintext for `text` and the metadata of its files ([] for none). */
export function pack(text, files = []) {
  if (!files.length && !parsed(text)) return text;
  return JSON.stringify({ securechat: MARK, text, files });
}

/** {text, files} from a decrypted plaintext of either version. */
export function unpack(plain) {
  const v = parsed(plain);
  if (!v) return { text: plain, files: [] };
  return { text: v.text, files: v.files.map(cleanFile).filter(Boolean) };
}
