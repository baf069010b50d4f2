// Key order exactly as the server sorts (Python compares code points; JS "<" compares UTF-16
// code units, which disagree for characters above U+FFFF).

/** Negative, zero or positive as a sorts before, equal to or after b in the server's order. */
export function compareKeys(a, b) {
  if (a === b) return 0;
  const left = a[Symbol.iterator]();
  const right = b[Symbol.iterator]();
  for (;;) {
    const x = left.next();
    const y = right.next();
    if (x.done || y.done) return x.done ? (y.done ? 0 : -1) : 1;
    if (x.value !== y.value) return x.value.codePointAt(0) - y.value.codePointAt(0);
  }
}

/** Whether key belongs on the page listing prefix after `after` (exclusive) up to `last` (inclusive). */
export function inRange(key, prefix, after, last) {
  if (!key.startsWith(prefix)) return false;
  if (after !== null && compareKeys(key, after) <= 0) return false;
  return last === null || compareKeys(key, last) <= 0;
}

/** Whether text occurs in the pair's key or value, ignoring case as the server's search= does
 * (it case-folds, which lower-casing matches but for a few letters such as ß). */
export function matches(pair, text) {
  const needle = text.toLowerCase();
  return pair.key.toLowerCase().includes(needle) || pair.value.toLowerCase().includes(needle);
}

const SHORT = 80; // characters of a value shown before it is folded

/** The first line of value, cut to SHORT characters, or null when value is short enough to show whole. */
export function shorten(value, limit = SHORT) {
  const firstLine = value.split("\n", 1)[0];
  const chars = Array.from(firstLine.slice(0, limit * 2));
  if (firstLine === value && chars.length <= limit) return null;
  return chars.length > limit ? `${chars.slice(0, limit).join("")}…` : `${chars.join("")} …`;
}
