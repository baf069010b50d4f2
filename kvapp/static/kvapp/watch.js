// The watch socket: events for the current prefix, resumed with after=<last revision> when
// the connection drops, with growing delays between attempts.

const BACKOFF_FIRST = 500; // ms before the first reconnect
const BACKOFF_MAX = 10_000; // ms, the longest wait between attempts
const STABLE_AFTER = 5_000; // ms a socket must stay open before the backoff starts over
const CLOSE_UNAUTHORIZED = 4401;
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

  url(token) {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const query = new URLSearchParams({ prefix: this.prefix });
    if (this.last !== null) query.set("after", String(this.last));
    if (token) query.set("token", token);
    return `${scheme}//${location.host}${this.path}?${query}`;
  }

  open(state) {
    this.handlers.status(state);
    const token = this.tokens.value;
    const socket = new WebSocket(this.url(token));
    const current = () => this.socket === socket; // stop() and a newer open() both replace it
    let openedAt = null;
    this.socket = socket;
    socket.addEventListener("open", () => {
      if (!current()) return;
      openedAt = Date.now();
      this.handlers.status("live");
    });
    socket.addEventListener("message", (message) => {
      if (current()) this.received(JSON.parse(message.data));
    });
    socket.addEventListener("close", (event) => {
      if (!current()) return;
      this.socket = null;
      if (openedAt !== null && Date.now() - openedAt > STABLE_AFTER) this.delay = BACKOFF_FIRST;
      this.closed(event.code, token);
    });
  }

  received(message) {
    if (message.type === "put" || message.type === "delete") {
      this.last = Math.max(this.last ?? 0, message.revision);
      this.handlers.event(message);
    } else if (message.type === "compacted") {
      this.stop();
      this.handlers.compacted();
    }
  }

  async closed(code, token) {
    if (code === CLOSE_COMPACTED) return; // received() has already handed over to compacted()
    if (code === CLOSE_UNAUTHORIZED) {
      const generation = this.generation;
      this.handlers.status("reconnecting");
      await this.tokens.ask(token);
      if (generation === this.generation) this.open("reconnecting");
      return;
    }
    this.handlers.status("reconnecting");
    this.timer = setTimeout(() => this.open("reconnecting"), this.delay);
    this.delay = Math.min(this.delay * 2, BACKOFF_MAX);
  }
}
