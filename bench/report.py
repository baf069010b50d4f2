"""The benchmark's one table: figures per server, the target, and whether it is met."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Results = dict[str, dict[str, Any]]  # server kind -> measurement name -> figure

# (row title, how to show a server's figure, target text, whether one server meets it)
Row = tuple[str, Callable[[dict[str, Any]], str], str, Callable[[dict[str, Any]], bool] | None]


def round_ratios(r: dict[str, Any], a: str, b: str) -> list[float]:
    """``a``'s rate over ``b``'s in each round, sorted: the two loads of a round ran seconds
    apart, so machine drift over the run cancels out of each ratio."""
    return sorted(x.rps / y.rps for x, y in zip(r["rounds"][a], r["rounds"][b], strict=True))


def _ratio(r: dict[str, Any], a: str, b: str) -> float:
    """The median of the per-round ratios (the target is judged on this)."""
    return _median(round_ratios(r, a, b))


def _median(ordered: list[float]) -> float:
    """The middle of a sorted list (the higher middle for an even count, as bench.run picks runs)."""
    return ordered[len(ordered) // 2]


def _show_ratio(a: str, b: str, form: str) -> Callable[[dict[str, Any]], str]:
    """The median ratio, and the spread over the rounds when there were several."""

    def show(r: dict[str, Any]) -> str:
        ratios = round_ratios(r, a, b)
        median = format(_median(ratios), form)
        if len(ratios) == 1:
            return median
        return f"{median} ({format(ratios[0], form)} to {format(ratios[-1], form)})"

    return show


def _lat(name: str) -> Callable[[dict[str, Any]], str]:
    return lambda r: f"{r[name].p50_ms:.1f} / {r[name].p99_ms:.1f}"


def _cpu(put: str, get: str) -> Callable[[dict[str, Any]], str]:
    return lambda r: f"{r[put].server_cpu_us:.0f} / {r[get].server_cpu_us:.0f}"


def _watch(n: int) -> Callable[[dict[str, Any]], str]:
    return lambda r: f"{r[f'watch{n}'].p50_ms:.1f} / {r[f'watch{n}'].p99_ms:.1f} / {r[f'watch{n}'].max_ms:.0f}"


def _lost(n: int) -> Callable[[dict[str, Any]], str]:
    def show(r: dict[str, Any]) -> str:
        w = r[f"watch{n}"]
        extra = f" ({w.failed} sockets failed)" if w.failed else ""
        return f"{w.lost} of {w.writes * n}{extra}"

    return show


LOADS = ("put", "get", "bare_get", "bare_put", "put_big", "txn", "keepalive", "rev_get")


def _errors(r: dict[str, Any]) -> int:
    loads = [name for name in LOADS if name in r]
    return sum(r[name].errors for name in loads) + r["expiry"].puts_during.errors + r["expiry"].puts_before.errors


def _rate(name: str) -> Callable[[dict[str, Any]], str]:
    return lambda r: f"{r[name].rps:,.0f}"


def _lease_rss(r: dict[str, Any]) -> str:
    leases, before, after = r["lease_rss"]
    return f"{after:.0f} (+{after - before:.0f} for {leases:,}: {(after - before) * 2**20 / leases:.0f} B each)"


def _expiry_ratio(r: dict[str, Any]) -> float:
    return r["expiry"].puts_during.rps / r["expiry"].puts_before.rps


ROWS: list[Row] = [
    ("puts/s, durable (1k keys)", lambda r: f"{r['put'].rps:,.0f}", "", None),
    ("put latency p50 / p99 ms", _lat("put"), "", None),
    ("gets/s", lambda r: f"{r['get'].rps:,.0f}", "", None),
    ("get latency p50 / p99 ms", _lat("get"), "", None),
    ("bare ASGI app, same PUTs: req/s (ceiling)", lambda r: f"{r['bare_put'].rps:,.0f}", "", None),
    ("bare ASGI app, same GETs: req/s (ceiling)", lambda r: f"{r['bare_get'].rps:,.0f}", "", None),
    ("bare ASGI GET latency p50 / p99 ms", _lat("bare_get"), "", None),
    ("server CPU µs per PUT / GET: kvstore", _cpu("put", "get"), "", None),
    ("server CPU µs per PUT / GET: bare ASGI app", _cpu("bare_put", "bare_get"), "", None),
    (
        "puts/s ÷ ceiling, per round: median (range)",
        _show_ratio("put", "bare_put", ".0%"),
        "≥ 40%",
        lambda r: _ratio(r, "put", "bare_put") >= 0.4,
    ),
    (
        "gets/s ÷ ceiling, per round: median (range)",
        _show_ratio("get", "bare_get", ".0%"),
        "≥ 50%",
        lambda r: _ratio(r, "get", "bare_get") >= 0.5,
    ),
    ("puts/s with 1M keys", lambda r: f"{r['put_big'].rps:,.0f}", "", None),
    (
        "puts/s 1M keys ÷ 1k keys, per round: median (range)",
        _show_ratio("put_big", "put", ".2f"),
        "≥ 0.9",
        lambda r: _ratio(r, "put_big", "put") >= 0.9,
    ),
    ("first start, 1M-key seed file (upgrade) s", lambda r: f"{r['start_upgrade']:.1f}", "", None),
    ("start with 1M keys s", lambda r: f"{r['start_big']:.1f}", "≤ 3 s", lambda r: r["start_big"] <= 3.0),
    (
        "RSS with 1M keys MiB (after start / after puts)",
        lambda r: f"{r['rss_big']:.0f} / {r['rss_big_after']:.0f}",
        "≤ 400",
        lambda r: max(r["rss_big"], r["rss_big_after"]) <= 400,
    ),
    ("watch 200 x 50 writes/s: p50 / p99 / max ms", _watch(200), "p99 ≤ 50", lambda r: r["watch200"].p99_ms <= 50),
    ("watch 200: lost deliveries", _lost(200), "0", lambda r: r["watch200"].lost == 0 and not r["watch200"].failed),
    ("watch 1000 x 50 writes/s: p50 / p99 / max ms", _watch(1000), "", None),
    ("watch 1000: lost deliveries", _lost(1000), "0", lambda r: r["watch1000"].lost == 0 and not r["watch1000"].failed),
    ("transactions/s, 2 compares + 2 puts (1k keys)", _rate("txn"), "", None),
    (
        "transactions/s ÷ puts/s, per round: median (range)",
        _show_ratio("txn", "put", ".2f"),
        "≥ 0.6",
        lambda r: _ratio(r, "txn", "put") >= 0.6,
    ),
    (
        "delete 10,000 keys by prefix: the call / a watcher has every delete, s",
        lambda r: f"{r['prefix_delete'].call_seconds:.2f} / {r['prefix_delete'].watched_seconds:.2f}",
        "≤ 1 s",
        lambda r: r["prefix_delete"].watched_seconds <= 1.0,
    ),
    ("lease keepalives/s", _rate("keepalive"), "", None),
    (
        "keepalives/s ÷ puts/s, per round: median (range)",
        _show_ratio("keepalive", "put", ".2f"),
        "≥ 1",
        lambda r: _ratio(r, "keepalive", "put") >= 1.0,
    ),
    (
        "10,000 leases due at once: first deadline to a watcher having every delete, s",
        lambda r: f"{r['expiry'].watched_seconds:.2f}",
        "≤ 2 s",
        lambda r: r["expiry"].watched_seconds <= 2.0,
    ),
    (
        "puts/s by others meanwhile ÷ puts/s before",
        lambda r: f"{_expiry_ratio(r):.2f} ({r['expiry'].puts_during.rps:,.0f} / {r['expiry'].puts_before.rps:,.0f})",
        "≥ 0.5",
        lambda r: _expiry_ratio(r) >= 0.5,
    ),
    ("RSS with live leases MiB", _lease_rss, "", None),
    ("gets/s at a past revision (each key changed since)", _rate("rev_get"), "", None),
    (
        "gets/s at a past revision ÷ gets/s, per round: median (range)",
        _show_ratio("rev_get", "get", ".2f"),
        "≥ 0.5",
        lambda r: _ratio(r, "rev_get", "get") >= 0.5,
    ),
    (
        "list 1M keys in pages of 10,000 at one revision: alone / beside 1,000 puts/s, s",
        lambda r: (
            f"{r['listing'].quiet_seconds:.1f} / {r['listing'].busy_seconds:.1f}"
            f" ({r['listing'].writes_per_second:,.0f} puts/s)"
        ),
        "≤ 2x alone",
        lambda r: r["listing"].busy_seconds <= 2 * r["listing"].quiet_seconds,
    ),
    (
        "history of a key with 1,000 events, first page: p50 / p99 ms",
        lambda r: f"{r['history'].p50_ms:.1f} / {r['history'].p99_ms:.1f}",
        "",
        None,
    ),
    (
        "RSS with 1M keys and 100,000 retained events MiB",
        lambda r: f"{r['rss_big_history']:.0f}",
        "≤ 400",
        lambda r: r["rss_big_history"] <= 400,
    ),
    ("HTTP errors (non-2xx, socket) in all wrk runs", lambda r: str(_errors(r)), "0", lambda r: _errors(r) == 0),
]


def render(results: Results) -> str:
    """A markdown table: one column per server, then the target, then met/missed per server."""
    kinds = list(results)
    lines = [
        "| measure | " + " | ".join(kinds) + " | target | met |",
        "|---|" + "---:|" * len(kinds) + "---|---|",
    ]
    for title, show, target, meets in ROWS:
        cells = [show(results[kind]) for kind in kinds]
        met = "" if meets is None else " ".join("yes" if meets(results[kind]) else "NO" for kind in kinds)
        lines.append(f"| {title} | " + " | ".join(cells) + f" | {target} | {met} |")
    return "\n".join(lines)
