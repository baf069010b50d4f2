// The bulk action bar under the table, as Django admin's actions: select all on the page, how
// many are selected, and "Delete selected" with its confirmation. The deleting itself (one
// transaction) is the page's.
//
// It sits after the rows rather than above them: the keyboard reaches it once the boxes are
// ticked, and Tab from the search box still lands on the first row's key.

import { shorten } from "./keys.js";

const NAMED = 3; // keys a confirmation names before "and N more"

export class BulkActions {
  /** bar: the #actions element; remove(targets) -> Promise<bool>: delete [{key, revision}], true if
   * done; home: where the keyboard goes when the bar has nothing left to focus. */
  constructor(bar, table, remove, home) {
    this.bar = bar;
    this.home = home;
    this.table = table;
    this.remove = remove;
    this.all = bar.querySelector("#select-all");
    this.count = bar.querySelector("#selection-count");
    this.button = bar.querySelector("#delete-selected");
    this.confirm = bar.querySelector("#bulk-confirm");
    this.question = bar.querySelector("#bulk-question");
    this.asking = null; // [{key, revision}] the open question is about
    this.busy = false; // a delete is on its way: one transaction at a time
    this.all.addEventListener("change", () => this.selectAll(this.all.checked));
    this.button.addEventListener("click", () => this.ask());
    bar.querySelector("#bulk-yes").addEventListener("click", () => this.confirmed());
    bar.querySelector("#bulk-no").addEventListener("click", () => this.cancel());
    bar.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && this.asking) this.cancel();
    });
  }

  /** Called after anything that may change the rows or their boxes. */
  update() {
    const shown = this.table.shown();
    const ticked = shown.filter((row) => row.selected).length;
    const selected = this.table.selected().length;
    this.all.checked = shown.length > 0 && ticked === shown.length;
    this.all.indeterminate = ticked > 0 && ticked < shown.length;
    this.all.disabled = shown.length === 0;
    this.count.textContent = `${selected} of ${this.table.size} selected`;
    this.button.disabled = selected === 0 || this.asking !== null || this.busy;
    this.bar.classList.toggle("has-selection", selected > 0);
  }

  /** Called when a new page of rows replaces the old: nothing is selected and no question is open. */
  reset() {
    this.close();
    this.update();
  }

  selectAll(on) {
    for (const row of this.table.shown()) row.select(on);
    this.update();
  }

  /** "Delete selected": ask first, naming the pairs, with the revisions seen now. */
  ask() {
    const rows = this.table.selected();
    if (!rows.length) return;
    this.asking = rows.map((row) => ({ key: row.key, revision: row.pair.revision }));
    const names = rows.slice(0, NAMED).map((row) => `“${shorten(row.key) ?? row.key}”`);
    const more = rows.length > NAMED ? ` and ${rows.length - NAMED} more` : "";
    this.question.textContent = `Delete ${rows.length === 1 ? "this pair" : `these ${rows.length} pairs`}: ${names.join(", ")}${more}?`;
    this.confirm.hidden = false;
    this.update();
    this.confirm.querySelector("#bulk-yes").focus();
  }

  async confirmed() {
    const targets = this.asking;
    if (!targets) return;
    this.close();
    this.busy = true;
    this.update();
    this.all.focus(); // the question's buttons have gone; the bar keeps the keyboard meanwhile
    let done = false;
    try {
      done = await this.remove(targets);
    } finally {
      this.busy = false;
    }
    this.update();
    // Done: the rows have gone, stay on select all. Refused: the rows are back in view and
    // still selected (but those that changed), so Delete selected is the next step.
    const next = [done ? this.all : this.button, this.all].find((control) => !control.disabled);
    (next ?? this.home).focus();
  }

  /** "No" or Escape: back to the button the question came from. */
  cancel() {
    this.close();
    this.update();
    this.button.focus();
  }

  close() {
    this.asking = null;
    this.confirm.hidden = true;
  }
}
