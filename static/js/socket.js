// A WebSocket that reconnects by itself: exponential backoff with jitter,
// JSON frames, and a state callback for the "Reconnecting…" display.

/** Close codes after which reconnecting is pointless. */
export const SESSION_ENDED = 4401;
export const NOT_A_MEMBER = 4403;
const ENDED = new Set([SESSION_ENDED, NOT_A_MEMBER]);

const BASE_DELAY = 500;
const MAX_DELAY = 15000;

export class LiveSocket {
  /**
   * @param {object} o
   * @param {() => string} o.url        computed for every attempt (so it can carry ?after=)
   * @param {(frame: object) => void} o.onFrame
   * @param {() => void} [o.onOpen]
   * @param {(state: string, info: object) => void} [o.onState] 'connecting' | 'open' | 'waiting' | 'ended'
   * @param {(failures: number) => void} [o.onFailures] after consecutive attempts that never opened
   * @param {(ev: CloseEvent) => void} [o.onEnd] the server ended the socket for good:
   *   4401 (the session ended) or 4403 (no longer a member)
   */
  constructor(o) {
    this.o = o;
    this.ws = null;
    this.timer = null;
    this.attempt = 0;
    this.failures = 0;
    this.stopped = false;
    this.state = 'idle';
    this.everOpened = false;
    this.retryAt = 0;
  }

  start() {
    this.stopped = false;
    this.connect();
    return this;
  }

  get isOpen() {
    return !!this.ws && this.ws.readyState === WebSocket.OPEN;
  }

  /** Sends a frame; false when the socket is not open. */
  send(frame) {
    if (!this.isOpen) return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }

  /** Stops for good (switching conversations, leaving). */
  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = null;
    const ws = this.ws;
    this.ws = null;
    if (ws) {
      ws.onmessage = ws.onerror = ws.onclose = null;
      if (ws.readyState === WebSocket.OPEN) {
        ws.onopen = null;
        ws.close(1000);
      } else if (ws.readyState === WebSocket.CONNECTING) {
        // Closing a socket that is still connecting makes the browser warn
        // in its console; let it open, then close it.
        ws.onopen = () => ws.close(1000);
      }
    }
    this.setState('stopped');
  }

  /** Skips the remaining wait (e.g. the browser came back online). */
  retryNow() {
    if (this.stopped || !this.timer) return;
    clearTimeout(this.timer);
    this.timer = null;
    this.connect();
  }

  setState(state, info = {}) {
    this.state = state;
    if (this.o.onState) this.o.onState(state, info);
  }

  connect() {
    if (this.stopped) return;
    this.setState('connecting', { attempt: this.attempt });
    let ws;
    try {
      ws = new WebSocket(this.o.url());
    } catch {
      this.schedule();
      return;
    }
    this.ws = ws;
    let opened = false;
    let openedAt = 0;
    ws.onopen = () => {
      opened = true;
      openedAt = Date.now();
      this.everOpened = true;
      this.failures = 0;
      this.setState('open');
      if (this.o.onOpen) this.o.onOpen();
    };
    ws.onmessage = (ev) => {
      let frame;
      try {
        frame = JSON.parse(ev.data);
      } catch {
        return;
      }
      if (frame && typeof frame === 'object') this.o.onFrame(frame);
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (this.stopped) return;
      if (ENDED.has(ev.code)) {
        // The session ended, or the membership did: retrying cannot help.
        this.stopped = true;
        this.setState('ended', { code: ev.code, reason: ev.reason });
        if (this.o.onEnd) this.o.onEnd(ev);
        return;
      }
      if (opened && Date.now() - openedAt > 10000) this.attempt = 0;
      if (!opened) {
        this.failures += 1;
        if (this.o.onFailures) this.o.onFailures(this.failures);
        if (this.stopped) return;
      }
      this.schedule();
    };
  }

  schedule() {
    const ceiling = Math.min(MAX_DELAY, BASE_DELAY * 2 ** this.attempt);
    this.attempt += 1;
    // Equal jitter: half fixed, half random, so clients spread out after a restart.
    const delay = Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
    this.retryAt = Date.now() + delay;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.connect();
    }, delay);
    this.setState('waiting', { delay, retryAt: this.retryAt, attempt: this.attempt });
  }
}
