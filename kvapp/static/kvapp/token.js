// The access token: asked for once in a small form when the server says 401, then kept in
// sessionStorage (this tab only) and sent on every request and watch.

const STORAGE_KEY = "kvstore.token";
const SUBPROTOCOL = "kvstore";
const BEARER_SUBPROTOCOL = "kvstore.bearer.";

/** The subprotocols the watch socket offers: "kvstore", and the token as
 * "kvstore.bearer.<base64url of its UTF-8>" (as Kubernetes does), since a browser cannot set a
 * header on a websocket and a token in the socket's URL would end up in server and proxy logs. */
export function watchProtocols(token) {
  if (!token) return [SUBPROTOCOL];
  let binary = "";
  for (const byte of new TextEncoder().encode(token)) binary += String.fromCharCode(byte);
  const base64url = btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  return [SUBPROTOCOL, BEARER_SUBPROTOCOL + base64url];
}

export class TokenKeeper {
  /** panel: the hidden <section> holding the token form. */
  constructor(panel) {
    this.panel = panel;
    this.form = panel.querySelector("form");
    this.input = panel.querySelector("input");
    this.note = panel.querySelector("#token-note");
    this.pending = null;
    this.form.addEventListener("submit", (event) => this.submitted(event));
  }

  /** The token in use, "" if none. */
  get value() {
    return sessionStorage.getItem(STORAGE_KEY) || "";
  }

  /** Called after a 401 sent with `refused`: show the form; every caller waits for the same answer. */
  ask(refused) {
    if (refused !== this.value) return Promise.resolve(this.value); // someone already entered a new one
    if (!this.pending) {
      this.note.textContent = refused
        ? "That token was not accepted. Enter the server's access token."
        : "This server needs an access token.";
      this.panel.hidden = false;
      this.input.focus();
      this.pending = new Promise((resolve) => {
        this.resolve = resolve;
      });
    }
    return this.pending;
  }

  /** Called when the form is submitted: store the token and release the waiting callers. */
  submitted(event) {
    event.preventDefault();
    const token = this.input.value.trim();
    if (!token) return;
    sessionStorage.setItem(STORAGE_KEY, token);
    this.input.value = "";
    this.panel.hidden = true;
    const resolve = this.resolve;
    this.pending = null;
    resolve(token);
  }
}
