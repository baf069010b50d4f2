// Messages above the table (success, warning, error), read out by screen readers through the
// aria-live region they are written into.

const KEEP = 3; // messages shown at once; older ones drop off

export class Messages {
  constructor(region) {
    this.region = region;
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
    const item = document.createElement("p");
    item.className = `message ${kind}`;
    item.textContent = text;
    this.region.prepend(item);
    while (this.region.children.length > KEEP) this.region.lastElementChild.remove();
  }
}
