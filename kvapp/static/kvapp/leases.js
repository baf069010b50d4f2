// The time to live of the leased keys on the page: each distinct lease is read once
// (GET /api/v1/leases/<id>) and then counted down here, a tick a second.
//
// A keepalive elsewhere sends no event, so a count that reaches zero while the key is still on
// the page is read again once (a lease runs out within a second of its time, and its keys'
// deletes follow): either it was renewed and the count starts over, or it has ended.

import { ApiError } from "./api.js";
import { duration } from "./time.js";

const TICK = 1000; // ms between updates of the counts
const RECHECK_AFTER = 2000; // ms past a count's zero before the lease is read again
const RETRY_AFTER = 5000; // ms before a lease that could not be read is tried again

export class LeaseClock {
  /** api: an Api; shown(): called when what lease() says may have changed (every tick too). */
  constructor(api, shown) {
    this.api = api;
    this.shown = shown;
    this.leases = new Map(); // id -> {ends: performance.now() ms | null while unread, ttl, gone, reading}
    this.timer = null;
  }

  /** Called on a relist: every lease on the new page is read again. */
  reset() {
    this.leases.clear();
  }

  /** Called after the rows changed, with the lease ids they hold: reads the new ones, forgets the rest. */
  follow(ids) {
    for (const id of this.leases.keys()) if (!ids.has(id)) this.leases.delete(id);
    for (const id of ids) if (!this.leases.has(id)) this.read(id, { ends: null, ttl: null, gone: false, reading: false });
    if (ids.size && this.timer === null) this.timer = setInterval(() => this.tick(), TICK);
    if (!ids.size && this.timer !== null) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }

  /** {text, title} for the lease's cell: the time left, or what is known of the lease. */
  describe(id) {
    const lease = this.leases.get(id);
    const title = lease?.ttl ? `lease ${id}, ${duration(lease.ttl)} to live when granted or kept alive` : `lease ${id}`;
    if (!lease || (lease.ends === null && !lease.gone)) return { text: "…", title };
    if (lease.gone) return { text: "expired", title };
    const left = (lease.ends - performance.now()) / 1000;
    return { text: left > 0 ? duration(left) : "expiring…", title };
  }

  async read(id, lease) {
    this.leases.set(id, lease);
    lease.reading = true;
    try {
      const answer = await this.api.lease(id);
      lease.ends = performance.now() + answer.remaining * 1000;
      lease.ttl = answer.ttl;
    } catch (error) {
      if (error instanceof ApiError && error.status === 404) lease.gone = true;
      else lease.ends = lease.ends ?? performance.now() + RETRY_AFTER; // unknown: look again soon
    } finally {
      lease.reading = false;
    }
    if (this.leases.get(id) === lease) this.shown();
  }

  tick() {
    const now = performance.now();
    for (const [id, lease] of this.leases) {
      if (!lease.gone && !lease.reading && lease.ends !== null && now - lease.ends > RECHECK_AFTER) this.read(id, lease);
    }
    this.shown();
  }
}
