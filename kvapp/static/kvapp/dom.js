// Element building from text only: data never goes through an HTML parser, so a value such as
// "<script>…" is always shown as the characters it is.

/** el("td", {class: "x", onclick: f}, "text", childNode) → a new element. */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "class") node.className = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children) {
    if (child !== null && child !== undefined && child !== false) node.append(child);
  }
  return node;
}

let lastId = 0;

/** A unique element id, so every generated input can have a <label for>. */
export function uniqueId(stem) {
  lastId += 1;
  return `${stem}-${lastId}`;
}
