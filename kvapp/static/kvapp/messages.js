// The message above the table (success, warning, error) about the last action, as Django admin
// shows one: each new message replaces the one before, and its close button dismisses it. The
// region is aria-live, so screen readers read each message out.

import { el } from "./dom.js";

export class Messages {
  /** region: the live region; home: where the keyboard goes on dismiss when its old place is gone. */
  constructor(region, home) {
    this.region = region;
    this.home = home;
    this.returnTo = null;
  }

  success(text) {
    this.show("success", text);
  }

  warning(text) {
    this.show("warning", text);
  }

  error(text) {
    this.show("error", text);
  }

  show(kind, text) {
    // Where the action left the keyboard: dismissing the message goes back there, not to <body>.
    this.returnTo = this.region.contains(document.activeElement) ? this.returnTo : document.activeElement;
    const close = el("button", {
      type: "button",
      class: "message-close",
      "aria-label": "Dismiss this message",
      onclick: () => this.dismiss(),
    });
    this.region.replaceChildren(el("p", { class: `message ${kind}` }, el("span", {}, text), close));
  }

  /** Called when an action without a message of its own (a new page or filter) starts. */
  clear() {
    this.region.replaceChildren();
  }

  /** Called by the close button. */
  dismiss() {
    this.region.replaceChildren();
    this.returnTo?.focus();
    if (document.activeElement === document.body) this.home.focus(); // that place has gone meanwhile
  }
}
