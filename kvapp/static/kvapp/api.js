// The JSON API client: pages of pairs and compare-and-swap writes, with the token attached.

export class ApiError extends Error {
  /** status 0 means the server could not be reached; body is the server's JSON, if any. */
  constructor(status, body) {
    super((body && body.error) || `the server answered HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

export class Api {
  /** listUrl: "/api/v1/kv"; tokens: a TokenKeeper. */
  constructor(listUrl, tokens) {
    this.listUrl = listUrl;
    this.tokens = tokens;
  }

  /** One page: {items, revision, next}. */
  list(prefix, after, limit) {
    const query = new URLSearchParams({ prefix, limit: String(limit) });
    if (after !== null) query.set("after", after);
    return this.request("GET", `${this.listUrl}?${query}`);
  }

  /** Write value only if the pair is still at ifRevision (0: only if the key is new). */
  put(key, value, ifRevision) {
    return this.request("PUT", this.itemUrl(key), { value, if_revision: ifRevision });
  }

  /** Delete only if the pair is still at ifRevision. */
  remove(key, ifRevision) {
    return this.request("DELETE", `${this.itemUrl(key)}?if_revision=${ifRevision}`);
  }

  itemUrl(key) {
    return `${this.listUrl}/${encodeURIComponent(key)}`;
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
