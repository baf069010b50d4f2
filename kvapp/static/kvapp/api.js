// The JSON API client: pages of pairs, compare-and-swap writes, transactions, leases and a
// key's history, with the token attached.

export class ApiError extends Error {
  /** status 0 means the server could not be reached; body is the server's JSON, if any. */
  constructor(status, body) {
    super((body && body.error) || `the server answered HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

export class Api {
  /** urls: {list: "/api/v1/kv", txn, leases, history: "/api/v1/history/"}; tokens: a TokenKeeper. */
  constructor(urls, tokens) {
    this.urls = urls;
    this.tokens = tokens;
  }

  /** One answer of the listing: {items, revision, next, count}. revision: read the store as it
   * stood then (null: now); search: only pairs whose key or value holds it (the page may be short). */
  list(prefix, after, limit, { revision = null, search = "" } = {}) {
    const query = new URLSearchParams({ prefix, limit: String(limit) });
    if (after !== null) query.set("after", after);
    if (revision !== null) query.set("revision", String(revision));
    if (search) query.set("search", search);
    return this.request("GET", `${this.urls.list}?${query}`);
  }

  /** Write value only if the pair is still at ifRevision (0: only if the key is new); ttl: seconds
   * until it expires, on a lease of its own (null: keep the key's lease). */
  put(key, value, ifRevision, ttl = null) {
    const body = { value, if_revision: ifRevision };
    if (ttl !== null) body.ttl = ttl;
    return this.request("PUT", this.itemUrl(key), body);
  }

  /** Delete only if the pair is still at ifRevision. */
  remove(key, ifRevision) {
    return this.request("DELETE", `${this.itemUrl(key)}?if_revision=${ifRevision}`);
  }

  /** Run {compare, success, failure} as one transaction: {succeeded, revision, responses}. */
  txn(body) {
    return this.request("POST", this.urls.txn, body);
  }

  /** {id, ttl, remaining, keys}; an ApiError 404 once the lease has ended. */
  lease(id) {
    return this.request("GET", `${this.urls.leases}/${id}`);
  }

  /** The key's retained events, newest first, older than `before` (null: all): {items, oldest, next}. */
  history(key, before, limit) {
    const query = new URLSearchParams({ limit: String(limit) });
    if (before !== null) query.set("before", String(before));
    return this.request("GET", `${this.urls.history}${encodeURIComponent(key)}?${query}`);
  }

  itemUrl(key) {
    return `${this.urls.list}/${encodeURIComponent(key)}`;
  }

  /** Send a request; on 401 ask for a token and send it again. Throws ApiError for other failures. */
  async request(method, url, body) {
    for (;;) {
      const token = this.tokens.value;
      const response = await this.send(method, url, body, token);
      if (response.status === 401) {
        await this.tokens.ask(token);
        continue;
      }
      const data = await response.json().catch(() => null);
      if (!response.ok) throw new ApiError(response.status, data);
      return data;
    }
  }

  async send(method, url, body, token) {
    const headers = { Accept: "application/json" };
    if (token) headers.Authorization = `Bearer ${token}`;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    try {
      return await fetch(url, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        cache: "no-store",
      });
    } catch {
      throw new ApiError(0, { error: "the server cannot be reached" });
    }
  }
}
