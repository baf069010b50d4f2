// A line-based diff of two values, for the history panel: the longest common subsequence of
// lines, after the common head and tail are taken off (a config edit changes a few lines of
// many). No library: the page has no build step and loads nothing from elsewhere.

const MAX_CELLS = 4_000_000; // lines before × lines after still compared exactly (16 MB of table)
export const CONTEXT = 2; // unchanged lines shown around each change

/** [{op: " " | "-" | "+", text}] turning before into after, line by line. */
export function lineDiff(before, after) {
  const a = before.split("\n");
  const b = after.split("\n");
  let head = 0;
  while (head < a.length && head < b.length && a[head] === b[head]) head += 1;
  let tail = 0;
  while (tail < a.length - head && tail < b.length - head && a[a.length - 1 - tail] === b[b.length - 1 - tail]) tail += 1;
  const same = (lines) => lines.map((text) => ({ op: " ", text }));
  return [
    ...same(a.slice(0, head)),
    ...middle(a.slice(head, a.length - tail), b.slice(head, b.length - tail)),
    ...same(a.slice(a.length - tail)),
  ];
}

/** The changed middle: exact when small enough, else all of it removed then added (still true,
 * only not minimal), so a megabyte value cannot freeze the page. */
function middle(a, b) {
  const removed = a.map((text) => ({ op: "-", text }));
  const added = b.map((text) => ({ op: "+", text }));
  if (a.length === 0 || b.length === 0 || a.length * b.length > MAX_CELLS) return [...removed, ...added];
  // common[i * width + j]: length of the longest common subsequence of a[i:] and b[j:].
  const width = b.length + 1;
  const common = new Uint32Array((a.length + 1) * width);
  for (let i = a.length - 1; i >= 0; i -= 1) {
    for (let j = b.length - 1; j >= 0; j -= 1) {
      common[i * width + j] =
        a[i] === b[j] ? common[(i + 1) * width + j + 1] + 1 : Math.max(common[(i + 1) * width + j], common[i * width + j + 1]);
    }
  }
  const lines = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (i < a.length && j < b.length && a[i] === b[j]) {
      lines.push({ op: " ", text: a[i] });
      i += 1;
      j += 1;
    } else if (i < a.length && (j === b.length || common[(i + 1) * width + j] >= common[i * width + j + 1])) {
      lines.push(removed[i]); // removals first, then what replaced them, as diff -u prints
      i += 1;
    } else {
      lines.push(added[j]);
      j += 1;
    }
  }
  return lines;
}

/** The diff with long unchanged runs folded: lines, and {skipped: n} in place of n unchanged
 * lines more than `context` away from any change (a single such line is shown instead). */
export function folded(lines, context = CONTEXT) {
  const near = lines.map(() => false);
  lines.forEach((line, index) => {
    if (line.op === " ") return;
    for (let k = Math.max(0, index - context); k <= Math.min(lines.length - 1, index + context); k += 1) near[k] = true;
  });
  const shown = [];
  let run = [];
  const flush = () => {
    if (run.length > 1) shown.push({ skipped: run.length });
    else shown.push(...run);
    run = [];
  };
  lines.forEach((line, index) => {
    if (near[index]) {
      flush();
      shown.push(line);
    } else {
      run.push(line);
    }
  });
  flush();
  return shown;
}
