// The WebSocket to /ws: JSON mode, one object per frame (PROTOCOL.md §6).
//
// request() gives each command a "ref" and resolves with the reply that
// carries it (ok, error, the sender's own message or private copy, or bye);
// every other object goes to onEvent. The server's PING is answered here.
// Reconnecting is the page's decision (after a BYE QUIT it must not), so
// this module only offers the backoff: 1, 2, 4 … 30 s, with some jitter.
// Given several URLs (this node's and the others of --web-servers), each
// retry goes to the next one in turn: a page whose node is gone moves on.
//
// Every frame counts against the server's rate limit (PROTOCOL.md §5: 10
// lines a second, bursts of 20, by default), and a reconnect sends a few
// commands per room at once. So frames leave through a small token bucket
// a little below the default, and a command answered RATE_LIMITED (the
// server's limit may be lower) is sent again a second later.

const MAX_DELAY = 30;
const RATE = 8; // frames per second
const BURST = 16;
const RETRY_AFTER = 1000; // ms, after RATE_LIMITED
const MAX_TRIES = 5;

export function wsUrl(location) {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}/ws`;
}

/** This node's URL first, then the others, each once (compared in lower case). */
export function serverList(own, others) {
  const seen = new Set();
  const list = [];
  for (const url of [own, ...others]) {
    if (typeof url !== "string" || !/^wss?:\/\//i.test(url) || seen.has(url.toLowerCase())) {
      continue;
    }
    seen.add(url.toLowerCase());
    list.push(url);
  }
  return list;
}

export class Connection {
  constructor(urls, { onOpen, onEvent, onClose }) {
    this.urls = urls;
    this.index = 0;
    this.onOpen = onOpen;
    this.onEvent = onEvent;
    this.onClose = onClose;
    this.ws = null;
    this.nextRef = 1;
    this.pending = new Map();
    this.attempt = 0;
    this.timer = null;
    this.lastBye = null;
    this.outbox = [];
    this.tokens = BURST;
    this.refilled = performance.now();
    this.pumpTimer = null;
  }

  /** The URL connected to, or to be tried next. */
  get url() {
    return this.urls[this.index];
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
      this.outbox = [];
      clearTimeout(this.pumpTimer);
      this.pumpTimer = null;
      for (const waiting of this.pending.values()) waiting.resolve(null);
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
      const waiting = this.pending.get(obj.ref);
      if (obj.type === "error" && obj.code === "RATE_LIMITED" && waiting.tries < MAX_TRIES) {
        waiting.tries += 1;
        setTimeout(() => {
          if (this.pending.get(obj.ref) === waiting) this.send(waiting.obj);
        }, RETRY_AFTER);
        return;
      }
      this.pending.delete(obj.ref);
      waiting.resolve(obj);
      if (obj.type !== "message" && obj.type !== "private" && obj.type !== "bye") return;
    }
    this.onEvent(obj);
  }

  /** Queue one object; it leaves as soon as the rate allows. False when not connected. */
  send(obj) {
    if (!this.open) return false;
    this.outbox.push(JSON.stringify(obj));
    this.pump();
    return true;
  }

  pump() {
    const now = performance.now();
    this.tokens = Math.min(BURST, this.tokens + ((now - this.refilled) / 1000) * RATE);
    this.refilled = now;
    while (this.outbox.length && this.tokens >= 1 && this.open) {
      this.ws.send(this.outbox.shift());
      this.tokens -= 1;
    }
    if (this.outbox.length && this.pumpTimer === null) {
      const wait = Math.ceil(((1 - this.tokens) / RATE) * 1000);
      this.pumpTimer = setTimeout(() => {
        this.pumpTimer = null;
        this.pump();
      }, wait);
    }
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
      this.pending.set(ref, { resolve, obj, tries: 0 });
    });
  }

  /** Try again later; calls tick(seconds left) each second, then connects. */
  reconnectLater(tick) {
    const base = Math.min(MAX_DELAY, 2 ** this.attempt);
    this.attempt += 1;
    let left = Math.max(1, Math.round(base * (0.75 + Math.random() * 0.25)));
    this.index = (this.index + 1) % this.urls.length;
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
