// The page's controller: loads one page of pairs at a time, applies watch events to it, and
// turns the table's edit/delete actions, the bulk delete, the add form and the history
// panel's restore into compare-and-swap writes.

import { Api, ApiError } from "./api.js";
import { HistoryPanel } from "./history.js";
import { inRange, matches, shorten } from "./keys.js";
import { LeaseClock } from "./leases.js";
import { fetchPage, walkTo } from "./listing.js";
import { Messages } from "./messages.js";
import { BulkActions } from "./selection.js";
import { PairTable } from "./table.js";
import { duration } from "./time.js";
import { TokenKeeper } from "./token.js";
import { Watch } from "./watch.js";

const $ = (id) => document.getElementById(id);
const LIVE_TEXT = { connecting: "connecting…", live: "live", reconnecting: "reconnecting…" };

const data = document.body.dataset;
const config = {
  urls: { list: data.api, txn: data.txn, leases: data.leases, history: data.history },
  watchPath: data.watch,
  pageSize: Number(data.pageSize),
};
const messages = new Messages($("messages"), $("content-main"));
const tokens = new TokenKeeper($("token-panel"));
const api = new Api(config.urls, tokens);
const NUMBER = new Intl.NumberFormat("en-US"); // "1,204 pairs", whatever the browser's language

// prefix: the filter; search: the text every pair under it was searched for ("" = none);
// after: cursor of this page (null = first); cursors: the `after` of each earlier page, for
// Previous; last: last key this page may hold (null = up to the end); snapshot: the revision
// the first page was read at, which later pages are read at too (null: the next listing takes
// a new one); listed: the revision the listing was read at; seen: the newest revision shown
// anywhere; count: pairs under the prefix, kept up to date by the events (null: not known);
// loading: a listing is on its way; stale: the last one failed, so the rows may be out of date.
const state = {
  prefix: "", search: "", after: null, cursors: [], last: null, snapshot: null, listed: 0, seen: 0, count: null,
  loads: 0, restarts: 0, loading: false, stale: false,
};
const deleted = new Map(); // key -> revision of a delete made here, so an older event cannot revive it

const table = new PairTable($("rows"), {
  save,
  remove,
  discard,
  history: (row) => historyPanel.open(row.key),
  selected: () => bulk.update(),
  lease: (id) => leases.describe(id),
});
const leases = new LeaseClock(api, () => table.showLeases());
const bulk = new BulkActions($("actions"), table, removeSelected, $("content-main"));
const historyPanel = new HistoryPanel($("history-panel"), api, { restore, closed: historyClosed });
const watch = new Watch(config.watchPath, tokens, {
  event: applyEvent,
  status: showLive,
  compacted: () => restart(state.prefix, state.after, state.cursors),
});

/** Show the page starting after `after` under prefix, and follow it live from its revision.
 * Every change of page goes through here: a write that lands while the listing loads is then
 * replayed by the new feed (it starts at the listing's revision) instead of being lost.
 * relist: take a new snapshot (a new filter or search, a reload, a feed whose history has
 * gone); else the page is read at the first page's revision, so all pages are one snapshot.
 * pageNumber: walk there first from page 1 (a reload or a shared link naming a page). */
async function restart(prefix, after = null, cursors = [], { relist = true, pageNumber = 1 } = {}) {
  const ticket = ++state.restarts;
  watch.stop();
  showLive("connecting"); // nothing follows the store until the new feed opens
  state.prefix = prefix;
  if (relist) {
    state.snapshot = null;
    leases.reset();
  }
  // The listing is the new starting point: deletes seen before it cannot hide anything it
  // missed, and after a restore from an older backup its revision may be lower than before.
  deleted.clear();
  if (pageNumber > 1) {
    showLoading(true);
    const walked = await walkTo(api, query(), pageNumber).catch(() => null); // else page 1, and load() says why
    if (ticket !== state.restarts) return;
    if (walked) ({ after, cursors, revision: state.snapshot } = walked);
  }
  state.after = after;
  state.cursors = cursors;
  showUrl();
  const listed = await load(true);
  if (ticket === state.restarts) watch.start(prefix, listed); // else a newer filter took over
}

/** What the listing asks for now, but the cursor. */
function query() {
  return { prefix: state.prefix, search: state.search, revision: state.snapshot, size: config.pageSize };
}

/** The current page at the snapshot's revision; {page, relisted}: relisted when it took a new one.
 * A snapshot the history no longer reaches (410), or newer than a store restored from an older
 * backup (400), is given up for a new one rather than failing the page. */
async function readPage() {
  const relisted = state.snapshot === null;
  try {
    return { page: await fetchPage(api, { ...query(), after: state.after }), relisted };
  } catch (error) {
    const gone = error instanceof ApiError && (error.status === 410 || error.status === 400);
    if (relisted || !gone) throw error;
    state.snapshot = null;
    return { page: await fetchPage(api, { ...query(), after: state.after }), relisted: true };
  }
}

/** Load the current page; returns the revision it was read at (null if it failed).
 * fresh: the listing starts a new feed, so a new snapshot's revision replaces the one seen
 * (which may go down). */
async function load(fresh = false) {
  const ticket = ++state.loads;
  showLoading(true);
  // After a failed listing the feed was started from "now": an older snapshot would miss writes.
  if (state.stale) state.snapshot = null;
  try {
    const { page, relisted } = await readPage();
    if (ticket !== state.loads) return page.revision; // a newer load has taken over
    state.snapshot = page.revision;
    state.last = page.next;
    state.listed = page.revision;
    state.count = page.count;
    state.seen = fresh && relisted ? page.revision : Math.max(state.seen, page.revision);
    state.stale = false;
    table.render(page.items);
    bulk.reset();
    refresh();
    return page.revision;
  } catch (error) {
    state.stale = true;
    messages.error(`Could not load pairs: ${describe(error)}.`);
    return null;
  } finally {
    if (ticket === state.loads) showLoading(false);
  }
}

function applyEvent(event) {
  state.seen = Math.max(state.seen, event.revision);
  countEvent(event);
  if (event.type === "delete") forget(event.key, event.revision, event.reason);
  else show(event);
  historyPanel.changed(event.key);
  refresh();
}

/** The count under the prefix follows the feed: every event is under it, and the feed starts
 * at the revision the count was read at. A put with no previous value created its key. */
function countEvent(event) {
  if (state.count === null) return;
  if (event.type === "delete") state.count -= 1;
  else if (event.prev === null) state.count += 1;
}

/** Put pair on the table if it is newer than what is there and belongs on this page. */
function show(pair) {
  const row = table.get(pair.key);
  if (row) {
    if (pair.revision > row.pair.revision) row.update(pair);
    return true;
  }
  if (pair.revision <= state.listed || pair.revision <= (deleted.get(pair.key) ?? 0)) return false;
  if (!inRange(pair.key, state.prefix, state.after, state.last)) return false;
  if (state.search && !matches(pair, state.search)) return false;
  table.insert(pair);
  if (table.size > config.pageSize) {
    table.remove(table.lastKey()); // it now opens the next page
    state.last = table.lastKey();
  }
  return true;
}

/** Drop a pair deleted at revision (reason: the event's, when its lease ended). */
function forget(key, revision, reason) {
  deleted.set(key, Math.max(revision, deleted.get(key) ?? 0));
  const row = table.get(key);
  if (row && revision > row.pair.revision) dropRow(row, revision, reason);
}

/** A deleted pair's row goes, unless it is being edited: a draft is not thrown away unannounced. */
function dropRow(row, revision, reason) {
  if (row.mode === "edit") row.deletedWhileEditing(revision, reason);
  else table.remove(row.key);
}

/** Called by Cancel on the editor of a pair someone else deleted meanwhile. */
function discard(row) {
  table.remove(row.key);
  refresh();
}

// --- writes ------------------------------------------------------------------------------

/** Called by a row's Save: write only if the pair is still at the revision the edit started from. */
async function save(row, value, base) {
  try {
    show(await api.put(row.key, value, base));
    table.get(row.key)?.closeEditor(); // the keyboard stays on the row, not on <body>
    messages.success(`Saved “${named(row.key)}”.`);
  } catch (error) {
    if (!(error instanceof ApiError && error.status === 409)) return messages.error(`Not saved: ${describe(error)}.`);
    const now = conflictCurrent(row.key, error.body);
    messages.warning(`Someone else changed “${named(row.key)}” first — now: ${now}. Your edit was not saved.`);
    if (table.get(row.key)) row.conflicted(`Now: ${now}. Save again to overwrite it, or cancel.`);
  } finally {
    refresh();
  }
}

/** Called by a row's "Yes, delete": delete only if the pair is still at the revision shown. */
async function remove(row) {
  const next = table.neighbour(row.key); // where the keyboard goes once the row is gone
  const refocus = () => (next && table.get(next.key) === next ? next.focus() : $("add-toggle").focus());
  try {
    const answer = await api.remove(row.key, row.pair.revision);
    forget(row.key, answer.revision);
    refocus();
    messages.success(`Deleted “${named(row.key)}”.`);
  } catch (error) {
    // DELETE always carries if_revision, so an absent key is a 409 carrying revision 0.
    if (error instanceof ApiError && error.status === 409 && isAbsent(error.body)) {
      conflictCurrent(row.key, null); // drops the row and remembers the delete
      refocus();
      messages.warning(`“${named(row.key)}” was already deleted.`);
    } else if (error instanceof ApiError && error.status === 409) {
      messages.warning(`Someone else changed “${named(row.key)}” first — now: ${conflictCurrent(row.key, error.body)}. Nothing was deleted.`);
      row.showView();
    } else {
      messages.error(`Not deleted: ${describe(error)}.`);
      row.showView();
    }
  } finally {
    refresh();
  }
}

/** The add form: a compare-and-swap with revision 0, so an existing pair is never overwritten.
 * With a time to live the pair gets a lease of its own in the same write. */
async function add(event) {
  event.preventDefault();
  const key = $("add-key").value;
  const value = $("add-value").value;
  const ttl = $("add-ttl").value === "" ? null : Number($("add-ttl").value);
  try {
    const pair = await api.put(key, value, 0, ttl);
    const shown = show(pair);
    // Back to the list, as Django admin's Save does: the panel closes and the keyboard goes to
    // the new row (to Add pair when the row is not on this page or the search hides it).
    $("add-form").reset();
    toggleAdd(false);
    if (shown) table.get(key)?.focus();
    const expires = ttl === null ? "" : `, expiring in ${duration(ttl)} unless its lease is kept alive`;
    messages.success(`Added “${named(key)}”${shown ? "" : " (not on this page)"}${expires}.`);
  } catch (error) {
    if (error instanceof ApiError && error.status === 409) {
      messages.warning(`“${named(key)}” already exists — now: ${conflictCurrent(key, error.body)}. Nothing was changed.`);
    } else {
      messages.error(`Not added: ${describe(error)}.`);
    }
  } finally {
    refresh();
  }
}

/** Called by the bulk action bar: delete every target in one transaction, only if each is still
 * at the revision it had when the question was asked; else nothing, and the rows that changed
 * are shown as they are now. Returns whether the pairs were deleted. */
async function removeSelected(targets) {
  const txn = {
    compare: targets.map(({ key, revision }) => ({ key, target: "revision", op: "==", value: revision })),
    success: targets.map(({ key }) => ({ op: "delete", key })),
    failure: targets.map(({ key }) => ({ op: "get", key })), // how each stands now, in the same instant
  };
  try {
    const answer = await api.txn(txn);
    if (answer.succeeded) {
      for (const done of answer.responses) {
        deleted.set(done.key, Math.max(done.revision, deleted.get(done.key) ?? 0));
        table.remove(done.key); // deleted here on purpose: an open editor's draft goes too
      }
      messages.success(`Deleted ${plural(targets.length, "pair")}.`);
      return true;
    }
    const changed = answer.responses.filter((now, index) => now.revision !== targets[index].revision);
    const told = changed.map(({ op: _get, ...now }) => {
      table.get(now.key)?.select(false); // to be looked at again before a new delete
      return `“${named(now.key)}” is now ${conflictCurrent(now.key, now)}`;
    });
    const some = changed.length === 1 ? "it was" : "they were";
    messages.warning(
      `Nothing was deleted: ${changed.length} of the ${plural(targets.length, "selected pair")} changed since ${some} selected — ${told.join("; ")}.`,
    );
    return false;
  } catch (error) {
    messages.error(`Nothing was deleted: ${describe(error)}.`);
    return false;
  } finally {
    refresh();
  }
}

/** Called by the history panel's "Restore this value": a put only if the key is still at `base`
 * (0: still absent), the revision the panel shows as current. Returns {kind, text} for the panel. */
async function restore(key, value, base, from) {
  try {
    const pair = await api.put(key, value, base);
    show(pair);
    return { kind: "success", text: `Restored the value of revision ${from}: “${named(key)}” is now at revision ${pair.revision}.` };
  } catch (error) {
    if (!(error instanceof ApiError && error.status === 409)) return { kind: "error", text: `Not restored: ${describe(error)}.` };
    const now = conflictCurrent(key, error.body);
    return { kind: "warning", text: `Someone else changed “${named(key)}” first — now: ${now}. Nothing was restored.` };
  } finally {
    refresh();
  }
}

/** Called when the history panel closes: the keyboard goes back to the row's History button. */
function historyClosed(key) {
  if (!table.get(key)?.focusHistory()) $("content-main").focus(); // the row has gone meanwhile
}

/** "1 pair", "1,204 pairs"; many: the plural when it is not noun + "s". */
function plural(count, noun, many = `${noun}s`) {
  return `${NUMBER.format(count)} ${count === 1 ? noun : many}`;
}

/** Whether the pair a 409 carries says the key is absent. */
function isAbsent(current) {
  return !current || current.value === null || current.revision === 0;
}

/** Describe the pair a 409 carries, and put it on the table (the row is refreshed). */
function conflictCurrent(key, current) {
  if (isAbsent(current)) {
    deleted.set(key, Math.max(state.seen, deleted.get(key) ?? 0));
    const row = table.get(key);
    if (row) dropRow(row, state.seen);
    return "deleted";
  }
  show(current);
  return `“${named(current.value)}” (revision ${current.revision})`;
}

/** A key or value as messages quote it: 1 KiB of it would bury the sentence around it. */
function named(text) {
  return shorten(text) ?? text;
}

function describe(error) {
  return error instanceof ApiError ? error.message : String(error);
}

// --- chrome: paging, counts, filter, search, live indicator ---------------------------------

function refresh() {
  $("store-revision").textContent = String(state.seen);
  $("prev").disabled = state.cursors.length === 0;
  $("next").disabled = state.last === null;
  leases.follow(table.leaseIds());
  table.showLeases();
  showCount();
  search();
  bulk.update();
}

/** The page number (of how many, when that is known) and the pairs under the filter, or nothing
 * while that is not known. */
function showCount() {
  const number = state.cursors.length + 1;
  const pages = state.search || state.count === null ? null : Math.max(number, Math.ceil(state.count / config.pageSize));
  $("page-info").textContent = pages === null || state.loading ? `Page ${number}` : `Page ${number} of ${NUMBER.format(pages)}`;
  const where = state.prefix ? ` under ${named(state.prefix)}` : " in the store";
  $("total").textContent = state.loading || state.count === null ? "" : `${plural(state.count, "pair")}${where}`;
  $("empty").hidden = table.size !== 0 || state.loading || state.stale;
  $("empty").textContent = state.search ? `No pairs${where} contain “${named(state.search)}”.` : "No pairs here.";
}

/** While a listing loads the table says so, instead of rows or a "no pairs" it does not know yet. */
function showLoading(on) {
  state.loading = on;
  $("result_list").setAttribute("aria-busy", String(on));
  $("loading").hidden = !on;
  $("loading").textContent = state.search ? `Searching every pair${state.prefix ? ` under ${named(state.prefix)}` : ""}…` : "Loading pairs…";
  showCount();
}

/** The search box filters the rows on this page as it is typed; Enter (or the button that then
 * shows) searches every pair under the filter, with the server's search=. */
function search() {
  const text = $("searchbar").value;
  const shown = table.filter(text);
  const storeWide = text !== "" && text === state.search;
  let said = "";
  if (storeWide) said = `${plural(shown, "match", "matches")} on this page, from every pair ${state.prefix ? `under ${named(state.prefix)}` : "in the store"}`;
  else if (text) said = `${shown} of ${table.size} on this page`;
  $("search-count").textContent = said;
  $("search-all").hidden = text === "" || storeWide;
  $("search-all").textContent = state.prefix ? `Search every pair under ${named(state.prefix)}` : "Search the whole store";
  $("search-clear").hidden = state.search === "";
}

/** Search every pair under the prefix for text ("" = list them all again): a new listing. */
function searchStore(text) {
  messages.clear();
  $("searchbar").value = text;
  state.search = text;
  restart(state.prefix);
}

function showLive(stateName) {
  const live = $("live");
  live.dataset.state = stateName;
  live.textContent = LIVE_TEXT[stateName];
  if (stateName === "live" && state.stale) load();
}

/** The filter, the search and the page in the address, so a reload or a shared link keeps them. */
function showUrl() {
  const url = new URL(location.href);
  url.search = "";
  if (state.prefix) url.searchParams.set("prefix", state.prefix);
  if (state.search) url.searchParams.set("search", state.search);
  if (state.cursors.length) url.searchParams.set("page", String(state.cursors.length + 1));
  history.replaceState(null, "", url);
}

/** The next and previous pages are read at the first page's revision: one snapshot. */
function nextPage() {
  messages.clear();
  restart(state.prefix, state.last, [...state.cursors, state.after], { relist: false });
}

function previousPage() {
  messages.clear();
  const cursors = state.cursors.slice();
  const after = cursors.pop() ?? null;
  restart(state.prefix, after, cursors, { relist: false });
}

function applyPrefix(prefix) {
  messages.clear();
  $("prefix").value = prefix;
  restart(prefix);
}

function toggleAdd(open) {
  $("add-panel").hidden = !open;
  $("add-toggle").setAttribute("aria-expanded", String(open));
  $(open ? "add-key" : "add-toggle").focus();
}

$("prefix-form").addEventListener("submit", (event) => {
  event.preventDefault();
  applyPrefix($("prefix").value);
});
$("prefix-clear").addEventListener("click", () => applyPrefix(""));
$("search-form").addEventListener("submit", (event) => {
  event.preventDefault();
  searchStore($("searchbar").value);
});
$("search-all").addEventListener("click", () => searchStore($("searchbar").value));
$("search-clear").addEventListener("click", () => {
  searchStore("");
  $("searchbar").focus();
});
$("searchbar").addEventListener("input", () => {
  search();
  bulk.update(); // select all now means the rows still in sight
});
$("next").addEventListener("click", nextPage);
$("prev").addEventListener("click", previousPage);
$("add-toggle").addEventListener("click", () => toggleAdd($("add-panel").hidden));
$("add-cancel").addEventListener("click", () => toggleAdd(false));
$("add-form").addEventListener("submit", add);
$("add-panel").addEventListener("keydown", (event) => {
  if (event.key === "Escape") toggleAdd(false);
  else if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) $("add-form").requestSubmit();
});

/** The address the page was opened with: ?prefix=P&search=S&page=N, each optional. */
function opened() {
  const params = new URLSearchParams(location.search);
  const pageNumber = Number.parseInt(params.get("page") ?? "1", 10);
  state.search = params.get("search") ?? "";
  $("searchbar").value = state.search;
  $("prefix").value = params.get("prefix") ?? "";
  restart($("prefix").value, null, [], { pageNumber: Number.isFinite(pageNumber) && pageNumber > 1 ? pageNumber : 1 });
}

opened();
