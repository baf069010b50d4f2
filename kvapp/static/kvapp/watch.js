// The watch socket: events for the current prefix, resumed with after=<last revision> when
// the connection drops, with growing delays between attempts. The token goes in a subprotocol,
// never in the URL; progress frames move the resume point on while other keys are written.

import { watchProtocols } from "./token.js";

const BACKOFF_FIRST = 500; // ms before the first reconnect
const BACKOFF_MAX = 10_000; // ms, the longest wait between attempts
const STABLE_AFTER = 5_000; // ms a socket must stay open before the backoff starts over
// Seconds of quiet after which the server says how far it has got, as kvcli's watch asks
// (kvcli/watch.py, PROGRESS_INTERVAL): the resume point lags the store by at most this long.
const PROGRESS_SECONDS = 10;
const CLOSE_UNAUTHORIZED = 4401;
const CLOSE_TOO_SLOW = 4408;
const CLOSE_COMPACTED = 4410;

export class Watch {
  /** handlers: {event(message), status(state), compacted()}; state is "connecting", "live" or "reconnecting". */
  constructor(path, tokens, handlers) {
    this.path = path;
    this.tokens = tokens;
    this.handlers = handlers;
    this.socket = null;
    this.timer = null;
    this.generation = 0; // raised by start() and stop(), so callbacks of an older session do nothing
  }

  /** Follow prefix from revision `after` (null: from now on). */
  start(prefix, after) {
    this.stop();
    this.prefix = prefix;
    this.last = after;
    this.delay = BACKOFF_FIRST;
    this.open("connecting");
  }

  stop() {
    this.generation += 1;
    clearTimeout(this.timer);
    if (this.socket) {
      const socket = this.socket;
      this.socket = null;
      socket.close();
    }
  }

  url() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const query = new URLSearchParams({ prefix: this.prefix, progress: String(PROGRESS_SECONDS) });
    if (this.last !== null) query.set("after", String(this.last));
    return `${scheme}//${location.host}${this.path}?${query}`;
  }

  open(state) {
    this.handlers.status(state);
    const token = this.tokens.value;
    const socket = new WebSocket(this.url(), watchProtocols(token));
    const current = () => this.socket === socket; // stop() and a newer open() both replace it
    let openedAt = null;
    let delivered = false; // an event came through this socket
    this.socket = socket;
    socket.addEventListener("open", () => {
      if (!current()) return;
      openedAt = Date.now();
      this.handlers.status("live");
    });
    socket.addEventListener("message", (message) => {
      if (current()) delivered = this.received(JSON.parse(message.data)) || delivered;
    });
    socket.addEventListener("close", (event) => {
      if (!current()) return;
      this.socket = null;
      if (openedAt !== null && Date.now() - openedAt > STABLE_AFTER) this.delay = BACKOFF_FIRST;
      this.closed(event.code, token, delivered);
    });
  }

  /** Handle one frame; true if it was an event. */
  received(message) {
    if (message.type === "put" || message.type === "delete") {
      this.last = Math.max(this.last ?? 0, message.revision);
      this.handlers.event(message);
      return true;
    }
    if (message.type === "progress") {
      // Every event for the prefix up to here has been sent: resume after it.
      this.last = Math.max(this.last ?? 0, message.revision);
    } else if (message.type === "compacted") {
      this.stop();
      this.handlers.compacted();
    }
    return false;
  }

  async closed(code, token, delivered) {
    if (code === CLOSE_COMPACTED) return; // received() has already handed over to compacted()
    if (code === CLOSE_UNAUTHORIZED) {
      const generation = this.generation;
      this.handlers.status("reconnecting");
      await this.tokens.ask(token);
      if (generation === this.generation) this.open("reconnecting");
      return;
    }
    this.handlers.status("reconnecting");
    // Dropped for reading too slowly: nothing is lost and the server is up, and waiting would
    // only leave more to replay, so resume at once, unless not even one event came through.
    if (code === CLOSE_TOO_SLOW && delivered) {
      this.timer = setTimeout(() => this.open("reconnecting"), 0);
      return;
    }
    this.timer = setTimeout(() => this.open("reconnecting"), this.delay);
    this.delay = Math.min(this.delay * 2, BACKOFF_MAX);
  }
}
