"""The benchmark table judges ratios round by round (bench/report.py)."""

from __future__ import annotations

from bench.load import LoadResult
from bench.report import ROWS, round_ratios


def _runs(*rates: float) -> list[LoadResult]:
    return [LoadResult(rps=rate, p50_ms=1.0, p99_ms=2.0, requests=int(rate), errors=0) for rate in rates]


def _row(title_start: str):
    return next(row for row in ROWS if row[0].startswith(title_start))


def test_ratios_pair_the_loads_of_each_round_not_the_medians_of_each_load():
    # The machine's speed drifts between rounds. Two rounds have puts at 45% of the ceiling;
    # the median put (2,000/s) and the median ceiling (6,000/s) would give 33%.
    results = {"rounds": {"put": _runs(4_500, 900, 2_000), "bare_put": _runs(10_000, 2_000, 6_000)}}
    assert [round(ratio, 3) for ratio in round_ratios(results, "put", "bare_put")] == [0.333, 0.45, 0.45]
    _, show, _, meets = _row("puts/s ÷ ceiling")
    assert show(results) == "45% (33% to 45%)"
    assert meets(results)


def test_the_target_is_judged_on_the_median_round_and_the_spread_is_shown():
    results = {"rounds": {"put_big": _runs(850, 950, 1_000), "put": _runs(1_000, 1_000, 1_000)}}
    _, show, target, meets = _row("puts/s 1M keys ÷ 1k keys")
    assert target == "≥ 0.9"
    assert show(results) == "0.95 (0.85 to 1.00)"
    assert meets(results)
    results["rounds"]["put_big"] = _runs(850, 890, 1_000)
    assert not meets(results)


def test_a_single_round_shows_just_its_ratio():
    results = {"rounds": {"get": _runs(3_000), "bare_get": _runs(6_000)}}
    _, show, _, meets = _row("gets/s ÷ ceiling")
    assert show(results) == "50%"
    assert meets(results)


def test_the_feature_rows_judge_their_targets() -> None:
    from bench.scenarios import ExpiryStorm, Listing, Watched

    results = {
        "rounds": {"txn": _runs(600, 700), "put": _runs(1_000, 1_000)},
        "prefix_delete": Watched(10_000, 0.2, 0.9),
        "expiry": ExpiryStorm(10_000, 2.5, _runs(400)[0], _runs(1_000)[0]),
        "listing": Listing(1_000_000, 10.0, 19.0, 990.0),
    }
    assert _row("transactions/s ÷ puts/s")[3](results)
    assert _row("delete 10,000 keys by prefix")[3](results)
    assert not _row("10,000 leases due at once")[3](results)
    assert not _row("puts/s by others meanwhile")[3](results)
    assert _row("list 1M keys")[3](results)
    results["listing"] = Listing(1_000_000, 10.0, 21.0, 990.0)
    assert not _row("list 1M keys")[3](results)
