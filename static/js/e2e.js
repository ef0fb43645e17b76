// The message codec: the one place where outgoing text becomes a message
// body and an incoming message becomes displayable text.
//
// Plain groups pass text through as `content`. End-to-end encrypted groups
// use the codec that e2e-codec.js registers: it encrypts into an `envelope`
// ({iv, ciphertext, keys}) and decrypts incoming envelopes.
//
// A codec: {
//   e2e: boolean,
//   canSend: boolean, reason: string (why not, shown beside the composer),
//   ready(): Promise<void>                       // fetch keys etc.
//   encode(text, {files}?): Promise<{content} | {envelope}> // the body of a message frame / PATCH
//     (`files`: E2E only, the attached files' keys and metadata: file-crypto.js)
//   decode(message): {text, files?, encrypted, failed, title?, icon?} | Promise<same>
//     (`files`: E2E only, the decrypted metadata of the message's attachments)
//     (failed results are shown with a lock icon, or `icon`)
//   E2E codecs also: refreshSoon(), observe(message), onChange(fn),
//   keysByUser(), myFingerprint, close()
// }

export const E2E_UNAVAILABLE = 'End-to-end encryption is not available in this client';

const plain = {
  e2e: false,
  canSend: true,
  reason: '',
  async ready() {},
  async encode(text) {
    return { content: text };
  },
  decode(message) {
    return { text: typeof message.content === 'string' ? message.content : '', encrypted: false, failed: false };
  },
};

/** Used only if no encryption module registered itself. */
const unavailableE2E = {
  e2e: true,
  canSend: false,
  reason: E2E_UNAVAILABLE,
  async ready() {},
  async encode() {
    throw new Error(E2E_UNAVAILABLE);
  },
  decode(message) {
    if (typeof message.content === 'string') return plain.decode(message);
    return { text: 'Encrypted message', encrypted: true, failed: true };
  },
};

/** Registered factories: a later module calls `registerE2E(factory)`. */
let e2eFactory = null;

/** Plugs in real encryption: `factory(group, {api, me})` returns a codec. */
export function registerE2E(factory) {
  e2eFactory = factory;
}

/** The codec for a group (`{id, e2e}`). */
export function codecFor(group, ctx) {
  if (!group.e2e) return plain;
  return e2eFactory ? e2eFactory(group, ctx) : unavailableE2E;
}

/** Whether a stored message carries the same body as `body` (for matching unacked sends). */
export function sameBody(message, body) {
  if (typeof body.content === 'string') return message.content === body.content;
  return canonical(message.envelope) === canonical(body.envelope);
}

function canonical(v) {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canonical(v[k])}`).join(',')}}`;
  }
  return JSON.stringify(v);
}
