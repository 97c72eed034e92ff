"""The result file's shape, the targets and the speed-up against a baseline."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bench import report
from bench.run import via_proxy
from bench.seed import BenchDatabaseRefused, check_database_allowed


def _round(throughput: float, *, p50: float = 10.0, p99: float = 30.0) -> dict[str, Any]:
    return {
        "round": 1,
        "closed": {"throughput_per_s": throughput, "latency_ms": {"p50": 5.0, "p99": 9.0}},
        "open": {
            "rate_per_s": throughput / 2,
            "latency_ms": {"n": 400, "p50": p50, "p99": p99, "p999": p99 * 2},
            "failed": 0,
        },
        "cpu_ms_per_request": {"app": 2.0, "postgres": 1.0, "total": 3.0},
    }


def _results(scale: float = 1.0) -> dict[str, Any]:
    throughput = {
        "graphql_spread": 100,
        "graphql_hot": 90,
        "litestar_spread": 250,
        "litestar_hot": 220,
        "floor_spread": 6000,
        "floor_hot": 2000,
        "read_wallet": 400,
        "read_stream": 300,
    }
    rounds = {name: [_round(value * scale) for _ in range(3)] for name, value in throughput.items()}
    sql = {
        name: {"statements_per_request": 24.0, "round_trips_per_request": 31.0} for name in rounds
    }
    sql["read_wallet"]["statements_by_page_size"] = {"20": 5.0, "1": 5.0}
    sql["read_stream"]["statements_by_page_size"] = {"50": 7.0, "1": 6.0}
    return report.build_results(
        rounds=rounds,
        sql=sql,
        machine={"cores": 2, "cpu_model": "test", "postgresql": "15", "python": "3.11"},
        config={"workers": 1, "rounds": 3},
        checks={"ok": True},
        created_at="2026-01-01T00:00:00+00:00",
    )


def test_result_file_has_the_ratios_figures_and_machine() -> None:
    results = json.loads(json.dumps(_results()))  # it survives the trip through the file

    assert set(results["ratios"]) == {
        "graphql_over_litestar",
        "hot_over_spread",
        "graphql_over_floor_spread",
        "graphql_hot_over_floor_hot",
    }
    assert results["ratios"]["graphql_over_litestar"] == 0.4
    assert results["ratios"]["hot_over_spread"] == 0.9
    assert results["ratios"]["graphql_hot_over_floor_hot"] == 0.045
    spread = results["scenarios"]["graphql_spread"]
    assert spread["throughput_per_s"] == 100
    assert spread["latency_ms"]["open_p99"] == 30
    assert spread["cpu_ms_per_request"] == {
        "app": 2.0,
        "postgres": 1.0,
        "total": 3.0,
        "load_generator": None,
    }
    assert spread["sql"]["round_trips_per_request"] == 31.0
    assert len(spread["rounds"]) == 3
    assert results["machine"]["cores"] == 2


def test_targets_say_what_is_met() -> None:
    targets = {t["name"]: t for t in _results()["targets"]}

    assert not targets["graphql_over_litestar"]["met"]
    assert targets["hot_over_spread"]["met"]  # 0.90 is on the line
    assert not targets["round_trips_per_send"]["met"]
    assert targets["round_trips_per_send"]["value"] == 31.0
    assert targets["read_wallet_statements_constant"]["met"]
    assert not targets["read_stream_statements_constant"]["met"]
    assert targets["p99_over_p50_at_half_max"]["value"] == 3.0
    assert targets["p99_over_p50_at_half_max"]["met"]


def test_speedup_points_the_right_way_for_each_figure() -> None:
    baseline, latest = _results(), _results(scale=2.0)
    latest["scenarios"]["graphql_spread"]["latency_ms"]["open_p99"] = 15.0

    rows = {
        (row["scenario"], row["figure"]): row["speedup"]
        for row in report.speedups(latest, baseline)
    }
    assert rows[("graphql_spread", "throughput /s")] == 2.0
    assert rows[("graphql_spread", "p99 ms at half max")] == 2.0  # lower latency is faster
    assert rows[("graphql_spread", "CPU ms per request")] == 1.0
    text = report.render(latest, baseline)
    assert "graphql_over_litestar" in text
    assert "MISSED round_trips_per_send" in text


def test_the_benchmark_never_empties_a_database_it_does_not_own() -> None:
    check_database_allowed("postgresql://postgres@127.0.0.1:5432/coins_bench")
    for name in ("test", "h_lead", "h_bench", "postgres", ""):
        with pytest.raises(BenchDatabaseRefused):
            check_database_allowed(f"postgresql://postgres@127.0.0.1:5432/{name}")
    assert (
        via_proxy("postgresql://postgres@db.example:5432/coins_bench", 7000)
        == "postgresql://postgres@127.0.0.1:7000/coins_bench"
    )
