// The WebSocket to /ws: JSON mode, one object per frame (PROTOCOL.md §6).
//
// request() gives each command a "ref" and resolves with the reply that
// carries it (ok, error, the sender's own message or private copy, or bye);
// every other object goes to onEvent. The server's PING is answered here.
// Reconnecting is the page's decision (after a BYE QUIT it must not), so
// this module only offers the backoff: 1, 2, 4 … 30 s, with some jitter.

const MAX_DELAY = 30;

export function wsUrl(location) {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}/ws`;
}

export class Connection {
  constructor(url, { onOpen, onEvent, onClose }) {
    this.url = url;
    this.onOpen = onOpen;
    this.onEvent = onEvent;
    this.onClose = onClose;
    this.ws = null;
    this.nextRef = 1;
    this.pending = new Map();
    this.attempt = 0;
    this.timer = null;
    this.lastBye = null;
  }

  get open() {
    return this.ws !== null && this.ws.readyState === WebSocket.OPEN;
  }

  connect() {
    clearTimeout(this.timer);
    this.timer = null;
    this.lastBye = null;
    const ws = new WebSocket(this.url);
    this.ws = ws;
    ws.addEventListener("open", () => {
      if (ws === this.ws) this.attempt = 0;
    });
    ws.addEventListener("message", (event) => {
      if (ws !== this.ws || typeof event.data !== "string") return;
      let obj;
      try {
        obj = JSON.parse(event.data);
      } catch {
        return; // the server only sends JSON; ignore anything else
      }
      if (obj === null || typeof obj !== "object") return;
      this.dispatch(obj);
    });
    ws.addEventListener("close", (event) => {
      if (ws !== this.ws) return;
      this.ws = null;
      for (const resolve of this.pending.values()) resolve(null);
      this.pending.clear();
      this.onClose({ code: event.code, bye: this.lastBye });
    });
  }

  dispatch(obj) {
    if (obj.type === "welcome") {
      this.onOpen(obj);
      return;
    }
    if (obj.type === "ping") {
      this.send({ cmd: "pong", token: obj.token ?? "" });
      return;
    }
    if (obj.type === "bye") this.lastBye = obj;
    if (obj.ref !== undefined && this.pending.has(obj.ref)) {
      const resolve = this.pending.get(obj.ref);
      this.pending.delete(obj.ref);
      resolve(obj);
      if (obj.type !== "message" && obj.type !== "private" && obj.type !== "bye") return;
    }
    this.onEvent(obj);
  }

  send(obj) {
    if (!this.open) return false;
    this.ws.send(JSON.stringify(obj));
    return true;
  }

  /** Send a command; resolves with its reply, or null if the connection ends first. */
  request(cmd, fields = {}) {
    const ref = `w${this.nextRef++}`;
    const obj = { cmd, ref };
    for (const [key, value] of Object.entries(fields)) {
      if (value !== undefined && value !== null) obj[key] = value;
    }
    return new Promise((resolve) => {
      if (!this.send(obj)) {
        resolve(null);
        return;
      }
      this.pending.set(ref, resolve);
    });
  }

  /** Try again later; calls tick(seconds left) each second, then connects. */
  reconnectLater(tick) {
    const base = Math.min(MAX_DELAY, 2 ** this.attempt);
    this.attempt += 1;
    let left = Math.max(1, Math.round(base * (0.75 + Math.random() * 0.25)));
    const step = () => {
      if (left <= 0) {
        this.connect();
        return;
      }
      tick(left);
      left -= 1;
      this.timer = setTimeout(step, 1000);
    };
    step();
  }

  /** Connect now instead of waiting (the browser came back online). */
  hurry() {
    if (this.timer !== null) this.connect();
  }

  close() {
    clearTimeout(this.timer);
    this.timer = null;
    if (this.ws) this.ws.close(1000);
  }
}
