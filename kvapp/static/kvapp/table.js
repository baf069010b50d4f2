// The change-list table: one row per pair, updated in place, with inline edit and delete, a
// box to select it for a bulk action, its lease's time to live and a way to its history.

import { el, uniqueId } from "./dom.js";
import { compareKeys, matches, shorten } from "./keys.js";

const FLASH_CLASS = "changed";
const KEY_HINT = "key-hint"; // the page's hidden sentence saying what a key button does

/** How a value looks in a cell: whole when short, folded in a <details> when long. */
export function valueView(value) {
  if (value === "") return el("span", { class: "empty-value" }, "(empty string)");
  const short = shorten(value);
  if (short === null) return el("span", { class: "value" }, value);
  return el(
    "details",
    { class: "long-value" },
    el("summary", {}, short, el("span", { class: "quiet" }, ` (${value.length} chars)`)),
    el("pre", { class: "value" }, value),
  );
}

class Row {
  /** actions: {save(row, value, baseRevision), remove(row), discard(row), history(row),
   * selected(row), lease(id) -> {text, title}} from the page. */
  constructor(pair, actions) {
    this.pair = pair;
    this.actions = actions;
    this.mode = "view";
    this.returnTo = null; // the key button when the editor was opened from it, for the keyboard's way back
    // The key opens the editor as the admin's link column opens the change form; a button,
    // since it changes nothing but this row and navigates nowhere.
    this.keyButton = el(
      "button",
      { type: "button", class: "keylink", "aria-describedby": KEY_HINT, onclick: () => this.keyClicked() },
      pair.key,
    );
    this.keyCell = el("th", { scope: "row", class: "column-key" }, this.keyButton);
    this.valueCell = el("td", { class: "column-value" });
    this.revisionCell = el("td", { class: "column-num" });
    this.createdCell = el("td", { class: "column-num" });
    this.leaseCell = el("td", { class: "column-lease" });
    this.checkbox = el("input", { type: "checkbox", onchange: () => this.selectionChanged() });
    const select = el("label", { class: "select-row" }, this.checkbox, el("span", { class: "visually-hidden" }, `Select ${pair.key}`));
    this.selectCell = el("td", { class: "column-select" }, select);
    this.actionCell = el("td", { class: "column-actions", onkeydown: (event) => this.actionKey(event) });
    // Key, value and revision stay the first three cells: what the eye (and the tests) look for.
    this.tr = el(
      "tr",
      {},
      this.keyCell,
      this.valueCell,
      this.revisionCell,
      this.createdCell,
      this.leaseCell,
      this.selectCell,
      this.actionCell,
    );
    this.tr.dataset.key = pair.key;
    this.showView();
  }

  get selected() {
    return this.checkbox.checked;
  }

  /** Tick or untick the row's box (select all, a bulk action done). */
  select(on) {
    this.checkbox.checked = on;
    this.tr.classList.toggle("selected", on);
  }

  selectionChanged() {
    this.tr.classList.toggle("selected", this.checkbox.checked);
    this.actions.selected(this);
  }

  /** The lease's time to live, counted down by the page's clock (empty without a lease). */
  showLease() {
    const lease = this.pair.lease ? this.actions.lease(this.pair.lease) : { text: "", title: null };
    this.leaseCell.textContent = lease.text;
    if (lease.title) this.leaseCell.title = lease.title;
    else this.leaseCell.removeAttribute("title");
  }

  get key() {
    return this.pair.key;
  }

  /** Called with a newer version of the pair (a watch event or a write's answer). */
  update(pair, flash = true) {
    this.pair = pair;
    this.gone = false;
    if (this.mode === "confirm") {
      // The delete was asked about an older version: back to the view, focus not lost to <body>.
      if (this.actionCell.contains(document.activeElement)) this.cancelConfirm();
      else this.showView();
    } else {
      this.revisionCell.textContent = String(pair.revision);
      this.createdCell.textContent = String(pair.created);
      this.showLease();
      if (this.mode === "edit") this.noteChange(`This pair changed while you were editing (now revision ${pair.revision}).`);
      else this.valueCell.replaceChildren(valueView(pair.value));
    }
    if (flash) this.flash();
  }

  /** Whether the search text occurs in the key or the value, ignoring case. */
  matches(text) {
    return matches(this.pair, text);
  }

  flash() {
    this.tr.classList.remove(FLASH_CLASS);
    void this.tr.offsetWidth; // restart the CSS animation
    this.tr.classList.add(FLASH_CLASS);
  }

  showView() {
    this.mode = "view";
    this.tr.classList.remove("editing", "deleting");
    this.revisionCell.textContent = String(this.pair.revision);
    this.createdCell.textContent = String(this.pair.created);
    this.showLease();
    this.valueCell.replaceChildren(valueView(this.pair.value));
    this.actionCell.replaceChildren(
      el("button", { type: "button", class: "edit", "aria-label": `Edit ${this.key}`, onclick: () => this.showEditor() }, "Edit"),
      el("button", { type: "button", class: "delete", "aria-label": `Delete ${this.key}`, onclick: () => this.showConfirm() }, "Delete"),
      el(
        "button",
        { type: "button", class: "history", "aria-label": `History of ${this.key}`, onclick: () => this.actions.history(this) },
        "History",
      ),
    );
  }

  /** Where the keyboard goes back to when the history panel closes. */
  focusHistory() {
    const button = this.actionCell.querySelector("button.history");
    if (button) button.focus();
    else this.focus();
    return document.activeElement !== document.body;
  }

  /** Called by the key: open the editor, or go back to it when it is open already. */
  keyClicked() {
    if (this.mode === "edit") return this.textarea.focus();
    this.showEditor();
    this.returnTo = this.keyButton;
  }

  /** Inline editor; the revision seen now is the one the save will compare against. */
  showEditor() {
    this.mode = "edit";
    this.returnTo = null;
    this.base = this.pair.revision;
    this.tr.classList.remove("deleting");
    this.tr.classList.add("editing");
    const id = uniqueId("edit");
    this.textarea = el("textarea", { id, rows: Math.min(8, this.pair.value.split("\n").length + 1), spellcheck: "false" });
    this.textarea.value = this.pair.value;
    this.note = el("p", { class: "edit-note", hidden: true });
    this.saveButton = el("button", { type: "submit", class: "default" }, "Save");
    const form = el(
      "form",
      { class: "inline-edit", onsubmit: (event) => this.submitEdit(event), onkeydown: (event) => this.editorKey(event) },
      el("label", { for: id, class: "visually-hidden" }, `New value for ${this.key}`),
      this.textarea,
      this.note,
      el("div", { class: "submit-row" }, this.saveButton, el("button", { type: "button", onclick: () => this.cancel() }, "Cancel")),
    );
    this.valueCell.replaceChildren(form);
    this.actionCell.replaceChildren();
    this.textarea.focus();
  }

  editorKey(event) {
    if (event.key === "Escape") this.cancel();
    else if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) this.submitEdit(event);
  }

  /** One save at a time: a second submit while the first is in flight would compare against
   * the revision the first one replaces and be refused as someone else's change. */
  async submitEdit(event) {
    event.preventDefault();
    const button = this.saveButton;
    if (button.disabled) return; // Ctrl+Enter does not go through the button
    button.disabled = true;
    try {
      await this.actions.save(this, this.textarea.value, this.base);
    } finally {
      button.disabled = false;
    }
  }

  /** Called after a refused save: keep the draft; saving again overwrites the current pair. */
  conflicted(text) {
    this.base = this.gone ? 0 : this.pair.revision; // a deleted pair is created again
    this.noteChange(text);
    this.textarea.focus();
  }

  noteChange(text) {
    this.note.textContent = text;
    this.note.hidden = false;
  }

  /** Called when someone else deletes the pair while it is being edited: the draft stays;
   * Save creates the pair again (only while it is still absent), Cancel lets the row go.
   * reason: the delete event's, when the pair's lease ended ("expired" or "revoked"). */
  deletedWhileEditing(revision, reason) {
    this.gone = true;
    this.base = 0;
    const what = { expired: "This pair's lease expired", revoked: "This pair's lease was revoked" }[reason] ?? "Someone else deleted this pair";
    this.noteChange(`${what} (revision ${revision}). Save to create it again with your value, or cancel.`);
  }

  /** Put the keyboard on this row's first button (Edit in the view, "Yes, delete" when confirming). */
  focus() {
    this.actionCell.querySelector(this.mode === "confirm" ? ".confirm button" : "button")?.focus();
  }

  cancel() {
    if (this.gone) return this.actions.discard(this);
    this.closeEditor();
  }

  closeEditor() {
    const returnTo = this.returnTo;
    this.showView();
    if (returnTo) returnTo.focus();
    else this.focus();
  }

  /** The question floats over the row's end instead of replacing Edit and Delete, which stay
   * (hidden by CSS) to hold the cell's size: a wider cell reflowed the whole table under the
   * pointer, moving the very buttons being aimed at. */
  showConfirm() {
    this.mode = "confirm";
    const question = el("span", { id: uniqueId("confirm"), class: "confirm-question" }, `Delete revision ${this.pair.revision}?`);
    const yes = el("button", { type: "button", class: "deletelink", onclick: () => this.actions.remove(this) }, "Yes, delete");
    const no = el("button", { type: "button", onclick: () => this.cancelConfirm() }, "No");
    this.actionCell.append(el("div", { class: "confirm", role: "group", "aria-labelledby": question.id }, question, yes, no));
    this.tr.classList.add("deleting");
    yes.focus();
  }

  /** Escape answers the delete confirmation "No", as it cancels the editor and the add panel. */
  actionKey(event) {
    if (event.key === "Escape" && this.mode === "confirm") this.cancelConfirm();
  }

  /** Back to the view, with focus on the Delete button the confirmation came from. */
  cancelConfirm() {
    this.showView();
    this.actionCell.querySelector("button.delete").focus();
  }
}

export class PairTable {
  constructor(tbody, actions) {
    this.tbody = tbody;
    this.actions = actions;
    this.rows = new Map();
  }

  /** Replace every row with items (already in key order). */
  render(items) {
    this.rows = new Map(items.map((pair) => [pair.key, new Row(pair, this.actions)]));
    this.tbody.replaceChildren(...Array.from(this.rows.values(), (row) => row.tr));
  }

  get(key) {
    return this.rows.get(key);
  }

  get size() {
    return this.rows.size;
  }

  /** The last key shown, null when empty. */
  lastKey() {
    const last = this.tbody.lastElementChild;
    return last ? last.dataset.key : null;
  }

  /** Add a row in key order. */
  insert(pair) {
    const row = new Row(pair, this.actions);
    const before = Array.from(this.tbody.children).find((tr) => compareKeys(tr.dataset.key, pair.key) > 0);
    this.tbody.insertBefore(row.tr, before || null);
    this.rows.set(pair.key, row);
    row.flash();
  }

  /** The row after ``key``'s, else the one before it: where the keyboard goes when it is removed. */
  neighbour(key) {
    const tr = this.rows.get(key)?.tr;
    const other = tr && (tr.nextElementSibling || tr.previousElementSibling);
    return other ? this.rows.get(other.dataset.key) : undefined;
  }

  remove(key) {
    const row = this.rows.get(key);
    if (!row) return;
    row.tr.remove();
    this.rows.delete(key);
  }

  /** Show only rows whose key or value contains text, ignoring case as Django admin's search
   * does; returns how many are shown. */
  filter(text) {
    let shown = 0;
    for (const row of this.rows.values()) {
      row.tr.hidden = text !== "" && !row.matches(text);
      if (!row.tr.hidden) shown += 1;
    }
    return shown;
  }

  /** The rows the search leaves in sight (select all ticks only what can be seen). */
  shown() {
    return Array.from(this.rows.values()).filter((row) => !row.tr.hidden);
  }

  /** The ticked rows, in key order. */
  selected() {
    return Array.from(this.rows.values()).filter((row) => row.selected);
  }

  /** The distinct leases of the rows. */
  leaseIds() {
    const ids = new Set();
    for (const row of this.rows.values()) if (row.pair.lease) ids.add(row.pair.lease);
    return ids;
  }

  /** Called on every tick of the lease clock and after the rows change: the times to live, in a
   * column shown only while some row has a lease. */
  showLeases() {
    let leased = false;
    for (const row of this.rows.values()) {
      if (!row.pair.lease) continue;
      leased = true;
      row.showLease();
    }
    this.tbody.closest("table").classList.toggle("has-leases", leased);
  }
}
