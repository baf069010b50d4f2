// What one page of the change list is: up to `size` pairs (or search matches) after a cursor,
// all read at one revision, and how to walk to page N of a shared link.

/** The page after `after` (null: the first): {items, revision, next, count}.
 * A search answer may be short, even empty, when the server stopped scanning to bound the
 * request: the rest is gathered by following `next`, each request at the first one's revision,
 * so the page is one snapshot whatever it took to fill it. */
export async function fetchPage(api, { prefix, after, search, revision, size }) {
  const items = [];
  let cursor = after;
  let at = revision;
  for (;;) {
    const answer = await api.list(prefix, cursor, size - items.length, { revision: at, search });
    items.push(...answer.items);
    at = answer.revision;
    cursor = answer.next;
    if (cursor === null || items.length >= size) return { items, revision: at, next: cursor, count: answer.count };
  }
}

/** The cursors of pages 1..n-1 and the `after` of page n, read at one revision (null: now),
 * for a reload or a shared link that names page n. Stops early when there are fewer pages now. */
export async function walkTo(api, query, n) {
  const cursors = [];
  let after = null;
  let revision = query.revision;
  while (cursors.length + 1 < n) {
    const page = await fetchPage(api, { ...query, after, revision });
    revision = page.revision;
    if (page.next === null) break;
    cursors.push(after);
    after = page.next;
  }
  return { cursors, after, revision };
}
