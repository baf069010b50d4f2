// A key's history in a modal dialog, as Django admin's "History" page lists an object's
// changes: each retained event newest first with its revision, age, type and value, a line
// diff against the value before it, and "Restore this value" as a compare-and-swap put.

import { lineDiff, folded } from "./diff.js";
import { el } from "./dom.js";
import { shorten } from "./keys.js";
import { valueView } from "./table.js";
import { ago } from "./time.js";

const PAGE = 20; // events per request; "Show older changes" asks for the next ones
const AGES_EVERY = 15_000; // ms between updates of the "3 min ago"s while the panel is open
const COALESCE = 200; // ms: a burst of writes to the key reloads the list once
const REASONS = { expired: "its lease expired", revoked: "its lease was revoked" };

export class HistoryPanel {
  /** dialog: the <dialog>; actions: {restore(key, value, base, from) -> {kind, text}, closed(key)}. */
  constructor(dialog, api, actions) {
    this.dialog = dialog;
    this.api = api;
    this.actions = actions;
    this.title = dialog.querySelector("#history-title");
    this.message = dialog.querySelector("#history-message");
    this.status = dialog.querySelector("#history-status");
    this.list = dialog.querySelector("#history-items");
    this.olderButton = dialog.querySelector("#history-older");
    this.key = null;
    this.loads = 0;
    dialog.querySelector("#history-close").addEventListener("click", () => dialog.close());
    this.olderButton.addEventListener("click", () => this.load(this.next));
    dialog.addEventListener("close", () => this.closed());
    dialog.addEventListener("click", (event) => {
      if (event.target === dialog) dialog.close(); // the backdrop: the content fills the box itself
    });
  }

  /** Called by a row's History button. */
  open(key) {
    this.key = key;
    this.title.textContent = `History of “${shorten(key) ?? key}”`;
    this.message.replaceChildren();
    this.list.replaceChildren();
    this.dialog.showModal();
    this.title.focus(); // a screen reader starts with which key this is
    this.ages = setInterval(() => this.showAges(), AGES_EVERY);
    this.load(null);
  }

  /** Called for every watch event: an open panel shows a change of its key at once. */
  changed(key) {
    if (!this.dialog.open || key !== this.key || this.reloading) return;
    this.reloading = setTimeout(() => {
      this.reloading = null;
      if (this.dialog.open) this.load(null);
    }, COALESCE);
  }

  closed() {
    clearInterval(this.ages);
    clearTimeout(this.reloading);
    this.reloading = null;
    const key = this.key;
    this.key = null;
    this.loads += 1; // an answer still on its way is for a panel no longer shown
    this.actions.closed(key);
  }

  /** Read the events before revision `before` (null: the newest) and show them. */
  async load(before) {
    const ticket = ++this.loads;
    const key = this.key;
    if (!this.list.children.length) this.status.textContent = "Loading history…"; // a reload says nothing
    try {
      const page = await this.api.history(key, before, PAGE);
      if (ticket !== this.loads) return;
      if (before === null) this.current = currentOf(page.items);
      this.show(page, before === null);
    } catch (error) {
      if (ticket === this.loads) this.status.textContent = `The history could not be read: ${error.message}.`;
    }
  }

  /** Put a page of events on the list; fresh: it is the newest page, replacing what was there. */
  show(page, fresh) {
    const focused = this.list.contains(document.activeElement) ? document.activeElement.closest("li")?.dataset.revision : undefined;
    const fromOlder = document.activeElement === this.olderButton;
    const items = page.items.map((event) => this.item(event));
    if (fresh) this.list.replaceChildren(...items);
    else this.list.append(...items);
    this.next = page.next;
    this.olderButton.hidden = page.next === null;
    this.status.textContent = this.note(page);
    if (focused !== undefined) {
      // The list was redrawn under the keyboard (a live change): stay on that event, else the title.
      const same = this.list.querySelector(`li[data-revision="${focused}"] button`);
      (same ?? this.title).focus();
    } else if (fromOlder && !fresh) {
      (items[0] ?? this.title).focus(); // read on from the first of the older changes
    }
  }

  /** What the list does not show: nothing retained, or changes older than the history keeps. */
  note(page) {
    const shown = this.list.children.length;
    if (shown === 0) return "No changes of this key are retained.";
    const last = this.list.lastElementChild.dataset;
    if (page.next === null && last.created !== "true") {
      return `Older changes are no longer kept (the history reaches back to revision ${page.oldest}).`;
    }
    return "";
  }

  item(event) {
    const li = el(
      "li",
      { class: `history-item ${event.type}` },
      el(
        "p",
        { class: "history-meta" },
        el("strong", {}, `Revision ${event.revision}`),
        " · ",
        timeView(event.time),
        " · ",
        el("span", { class: "history-type" }, typeText(event)),
        event.revision === this.current.revision ? el("span", { class: "history-current" }, "current value") : null,
      ),
    );
    li.tabIndex = -1; // "Show older changes" puts the keyboard on the first one it adds
    li.dataset.revision = String(event.revision);
    li.dataset.created = String(event.type === "put" && event.prev === null);
    if (event.type === "put") {
      li.append(el("div", { class: "history-value" }, valueView(event.value)));
      if (event.prev !== null && (event.value.includes("\n") || event.prev.includes("\n"))) li.append(diffView(event.prev, event.value));
      if (event.value !== this.current.value) li.append(this.restoreButton(event));
    } else if (event.prev !== null) {
      li.append(el("div", { class: "history-value" }, el("span", { class: "quiet" }, "It held: "), valueView(event.prev)));
    }
    return li;
  }

  restoreButton(event) {
    return el(
      "button",
      { type: "button", class: "restore", "aria-label": `Restore this value (revision ${event.revision})`, onclick: () => this.restore(event) },
      "Restore this value",
    );
  }

  /** A put of the event's value, only if the key is still as the panel shows it now. */
  async restore(event) {
    const key = this.key;
    const result = await this.actions.restore(key, event.value, this.current.revision, event.revision);
    if (key !== this.key) return;
    this.message.replaceChildren(el("p", { class: `message ${result.kind}` }, el("span", {}, result.text)));
    this.load(null); // the restored value, or the one that got there first, on top
  }

  showAges() {
    for (const time of this.list.querySelectorAll("time")) time.textContent = ago(time.dateTime);
  }
}

/** The key as the newest event leaves it: {revision, value}, revision 0 and value null if absent. */
function currentOf(items) {
  const newest = items[0];
  if (!newest || newest.type !== "put") return { revision: 0, value: null };
  return { revision: newest.revision, value: newest.value };
}

/** "3 min ago", the exact ISO time on hover (and to assistive technology, as <time datetime>). */
function timeView(iso) {
  if (!iso) return el("span", { class: "quiet" }, "time not recorded");
  return el("time", { datetime: iso, title: iso }, ago(iso));
}

function typeText(event) {
  if (event.type === "put") return event.prev === null ? "put (created)" : "put";
  const reason = REASONS[event.reason];
  return reason ? `delete: ${reason}` : "delete";
}

/** The lines of `after` against `before`, unchanged runs folded; +/− marks are read as words. */
function diffView(before, after) {
  const line = (entry) => {
    if (entry.skipped) return el("span", { class: "diff-skip" }, `⋯ ${entry.skipped} unchanged lines`);
    if (entry.op === " ") return el("span", { class: "diff-same" }, entry.text);
    const [tag, word] = entry.op === "+" ? ["ins", "added: "] : ["del", "removed: "];
    return el(tag, {}, el("span", { class: "visually-hidden" }, word), entry.text);
  };
  return el(
    "figure",
    { class: "diff" },
    el("figcaption", {}, "Changes from the value before"),
    el("pre", {}, ...folded(lineDiff(before, after)).map(line)),
  );
}
