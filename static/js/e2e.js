// The message codec: the one place where outgoing text becomes a message
// body and an incoming message becomes displayable text.
//
// Plain groups pass text through as `content`. End-to-end encrypted groups
// will encrypt into an `envelope` ({iv, ciphertext, keys}) and decrypt
// incoming envelopes; until that module lands, E2E groups show incoming
// envelopes as "🔒 Encrypted message" and cannot send.
//
// A codec: {
//   e2e: boolean,
//   canSend: boolean, reason: string (why not, shown beside the composer),
//   ready(): Promise<void>                       // fetch keys etc.
//   encode(text): Promise<{content} | {envelope}> // the body of a message frame / PATCH
//   decode(message): {text, encrypted, failed} | Promise<same>
// }

export const E2E_PENDING = 'End-to-end encryption arrives in the next version';

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

const pendingE2E = {
  e2e: true,
  canSend: false,
  reason: E2E_PENDING,
  async ready() {},
  async encode() {
    throw new Error(E2E_PENDING);
  },
  decode(message) {
    if (typeof message.content === 'string') return plain.decode(message);
    return { text: '🔒 Encrypted message', encrypted: true, failed: true };
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
  return e2eFactory ? e2eFactory(group, ctx) : pendingE2E;
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
