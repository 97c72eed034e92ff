"""The benchmark's result file, its targets, the speed-up against the baseline, the table.

Pure functions of plain dicts, so the file's shape and the arithmetic are tested without
running the benchmark (tests/bench/). ``bench/results/latest.json`` is what
``build_results`` returns; ``baseline.json`` is the first run's, kept.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bench.stats import median, ratio_of_rounds

RESULTS_VERSION = 1

# name: (what it is, HTTP path or "floor", "spread" | "hot" | "read")
SCENARIOS: dict[str, tuple[str, str, str]] = {
    "graphql_spread": ("sendGift over GraphQL, spread over creators", "graphql", "spread"),
    "graphql_hot": ("sendGift over GraphQL, all to one creator", "graphql", "hot"),
    "litestar_spread": ("minimal Litestar handler, spread", "litestar", "spread"),
    "litestar_hot": ("minimal Litestar handler, one creator", "litestar", "hot"),
    "floor_spread": ("raw asyncpg floor, spread", "floor", "spread"),
    "floor_hot": ("raw asyncpg floor, one creator", "floor", "hot"),
    "read_wallet": ("me { wallet { coins diamonds entries(first: 20) } }", "graphql", "read"),
    "read_stream": ("liveStream { topGifters recentGifts(first: 50) }", "graphql", "read"),
}

# ratio name: (numerator scenario, denominator scenario), throughput of each.
RATIOS: dict[str, tuple[str, str]] = {
    "graphql_over_litestar": ("graphql_spread", "litestar_spread"),
    "hot_over_spread": ("graphql_hot", "graphql_spread"),
    "graphql_over_floor_spread": ("graphql_spread", "floor_spread"),
    "graphql_hot_over_floor_hot": ("graphql_hot", "floor_hot"),
}

# The targets (issue 12), checked in the same run.
RATIO_TARGETS = {
    "graphql_over_litestar": 0.70,
    "hot_over_spread": 0.90,
    "graphql_over_floor_spread": 0.10,
    "graphql_hot_over_floor_hot": 0.30,
}
# Issue 13's floods: (what it is, the flood beside the ordinary loop: None, "login", "feed").
FLOOD_SCENARIOS: dict[str, tuple[str, str | None]] = {
    "flood_quiet": ("the ordinary loop alone: a trivial query, sendGift to one stream", None),
    "flood_login": ("the ordinary loop during a logIn flood", "login"),
    "flood_feed": ("the ordinary loop with giftSent subscribers on that stream", "feed"),
}
ORDINARY_LOOPS = ("query", "send")
# flood ratio: (flood scenario, ordinary loop, percentile), over the same in flood_quiet.
FLOOD_RATIOS: dict[str, tuple[str, str, str]] = {
    "login_flood_query_p99_over_quiet": ("flood_login", "query", "p99"),
    "login_flood_send_p99_over_quiet": ("flood_login", "send", "p99"),
    "feed_send_p50_over_quiet": ("flood_feed", "send", "p50"),
    "feed_send_p99_over_quiet": ("flood_feed", "send", "p99"),
}
FLOOD_RATIO_TARGETS = {
    "login_flood_query_p99_over_quiet": 3.0,
    "login_flood_send_p99_over_quiet": 3.0,
    "feed_send_p50_over_quiet": 2.0,
}
MIN_DELIVERED_ON_TIME = 0.99
MAX_ROUND_TRIPS_PER_SEND = 4
MAX_P99_OVER_P50 = 5.0
SEND_SCENARIOS = ("graphql_spread", "graphql_hot")
READ_SCENARIOS = ("read_wallet", "read_stream")


def _median_of(rounds: Sequence[Mapping[str, Any]], *path: str) -> float | None:
    values = []
    for entry in rounds:
        value: Any = entry
        for key in path:
            value = value.get(key) if isinstance(value, Mapping) else None
        if isinstance(value, int | float):
            values.append(value)
    return round(median(values), 3) if values else None


def summarise(rounds: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Medians over rounds of one scenario's figures."""
    return {
        "throughput_per_s": _median_of(rounds, "closed", "throughput_per_s"),
        "latency_ms": {
            "closed_p50": _median_of(rounds, "closed", "latency_ms", "p50"),
            "closed_p99": _median_of(rounds, "closed", "latency_ms", "p99"),
            "open_rate_per_s": _median_of(rounds, "open", "rate_per_s"),
            "open_p50": _median_of(rounds, "open", "latency_ms", "p50"),
            "open_p99": _median_of(rounds, "open", "latency_ms", "p99"),
            "open_p999": _median_of(rounds, "open", "latency_ms", "p999"),
            "open_samples": _median_of(rounds, "open", "latency_ms", "n"),
        },
        "cpu_ms_per_request": {
            "app": _median_of(rounds, "cpu_ms_per_request", "app"),
            "postgres": _median_of(rounds, "cpu_ms_per_request", "postgres"),
            "total": _median_of(rounds, "cpu_ms_per_request", "total"),
            "load_generator": _median_of(rounds, "cpu_ms_per_request", "load_generator"),
        },
        "failures": sum(
            int(entry.get(phase, {}).get("failed", 0))
            for entry in rounds
            for phase in ("closed", "open")
        ),
    }


def summarise_flood(rounds: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Medians over rounds of one flood scenario: the ordinary loops, and the flood's own."""
    summary: dict[str, Any] = {}
    for loop in ORDINARY_LOOPS:
        summary[loop] = {
            "rate_per_s": _median_of(rounds, "ordinary", loop, "rate_per_s"),
            "p50": _median_of(rounds, "ordinary", loop, "latency_ms", "p50"),
            "p99": _median_of(rounds, "ordinary", loop, "latency_ms", "p99"),
            "max": _median_of(rounds, "ordinary", loop, "latency_ms", "max"),
            "samples": _median_of(rounds, "ordinary", loop, "latency_ms", "n"),
            "failures": sum(
                int(r.get("ordinary", {}).get(loop, {}).get(key, 0))
                for r in rounds
                for key in ("failed", "unfinished")
            ),
        }
    kinds = {r.get("flood", {}).get("kind") for r in rounds} - {None}
    if kinds == {"login"}:
        outcomes: dict[str, int] = {}
        for entry in rounds:
            for outcome, count in entry["flood"]["outcomes"].items():
                outcomes[outcome] = outcomes.get(outcome, 0) + count
        total = sum(outcomes.values())
        summary["login"] = {
            "clients": _median_of(rounds, "flood", "clients"),
            "source_addresses": _median_of(rounds, "flood", "source_addresses"),
            "rate_per_s": _median_of(rounds, "flood", "rate_per_s"),
            "p50": _median_of(rounds, "flood", "latency_ms", "p50"),
            "p99": _median_of(rounds, "flood", "latency_ms", "p99"),
            "outcomes": outcomes,
            "shares": {k: round(v / total, 4) for k, v in outcomes.items()} if total else {},
        }
    elif kinds == {"feed"}:
        summary["feed"] = {
            "subscribers": _median_of(rounds, "flood", "subscribers"),
            "acknowledged": _median_of(rounds, "flood", "acknowledged"),
            "heard_warm_up": _median_of(rounds, "flood", "heard_warm_up"),
            "events": _median_of(rounds, "flood", "delivery", "events"),
            "on_time_share": _median_of(rounds, "flood", "delivery", "on_time_share"),
            "within_s": _median_of(rounds, "flood", "delivery", "within_s"),
            "delivery_p50": _median_of(rounds, "flood", "delivery", "latency_ms", "p50"),
            "delivery_p99": _median_of(rounds, "flood", "delivery", "latency_ms", "p99"),
        }
    return summary


def build_floods(rounds: Mapping[str, Sequence[Mapping[str, Any]]]) -> dict[str, Any]:
    """The floods' part of the result file: each scenario, the ratios to quiet, targets."""
    scenarios = {
        name: {
            "title": title,
            "flood": flood,
            **summarise_flood(rounds[name]),
            "rounds": list(rounds[name]),
        }
        for name, (title, flood) in FLOOD_SCENARIOS.items()
        if rounds.get(name)
    }
    ratios: dict[str, float | None] = {}
    quiet = rounds.get("flood_quiet", [])
    for ratio, (name, loop, percentile) in FLOOD_RATIOS.items():
        flooded = rounds.get(name, [])
        if not quiet or len(flooded) != len(quiet):
            continue

        def figure(entry: Mapping[str, Any], loop: str = loop, p: str = percentile) -> Any:
            return entry["ordinary"][loop]["latency_ms"].get(p)

        tops, bottoms = [figure(r) for r in flooded], [figure(r) for r in quiet]
        if None in tops or None in bottoms:  # no answer at all in a round: no ratio, a miss
            ratios[ratio] = None
            continue
        value = ratio_of_rounds(tops, bottoms)
        ratios[ratio] = round(value, 3) if value is not None else None
    floods: dict[str, Any] = {"scenarios": scenarios, "ratios": ratios}
    floods["targets"] = evaluate_flood_targets(floods)
    return floods


def evaluate_flood_targets(floods: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Issue 13's load targets, for the flood scenarios that ran (a miss is reported)."""
    targets = []
    for name, goal in FLOOD_RATIO_TARGETS.items():
        if name not in floods["ratios"]:
            continue
        value = floods["ratios"][name]
        targets.append(
            {
                "name": name,
                "value": value,
                "goal": f"<= {goal:.1f}",
                "met": value is not None and value <= goal,
            }
        )
    feed = floods["scenarios"].get("flood_feed", {}).get("feed")
    if feed is not None:
        share = feed["on_time_share"]
        targets.append(
            {
                "name": "feed_delivered_on_time",
                "value": share,
                "goal": f">= {MIN_DELIVERED_ON_TIME:.2f} within {_fmt(feed['within_s'], 0)} s",
                "met": share is not None and share >= MIN_DELIVERED_ON_TIME,
            }
        )
    for name, scenario in floods["scenarios"].items():
        failures = sum(scenario[loop]["failures"] for loop in ORDINARY_LOOPS)
        targets.append(
            {
                "name": f"{name}_ordinary_failures",
                "value": failures,
                "goal": "0 ordinary requests failed",
                "met": failures == 0,
            }
        )
    return targets


def build_results(
    *,
    rounds: Mapping[str, Sequence[Mapping[str, Any]]],
    sql: Mapping[str, Mapping[str, Any]],
    machine: Mapping[str, Any],
    config: Mapping[str, Any],
    checks: Mapping[str, Any],
    created_at: str,
    flood_rounds: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
) -> dict[str, Any]:
    """The whole result file: scenarios (medians and each round), ratios, targets."""
    scenarios = {}
    for name, (title, path, target) in SCENARIOS.items():
        if not rounds.get(name):
            continue
        scenarios[name] = {
            "title": title,
            "path": path,
            "target": target,
            **summarise(rounds[name]),
            "sql": dict(sql.get(name, {})),
            "rounds": list(rounds[name]),
        }
    ratios = {}
    for ratio, (top, bottom) in RATIOS.items():
        if rounds.get(top) and rounds.get(bottom):
            value = ratio_of_rounds(
                [r["closed"]["throughput_per_s"] for r in rounds[top]],
                [r["closed"]["throughput_per_s"] for r in rounds[bottom]],
            )
            ratios[ratio] = round(value, 4) if value is not None else None
    results: dict[str, Any] = {
        "version": RESULTS_VERSION,
        "created_at": created_at,
        "machine": dict(machine),
        "config": dict(config),
        "ratios": ratios,
        "scenarios": scenarios,
        "checks": dict(checks),
    }
    results["targets"] = evaluate_targets(results)
    if flood_rounds:
        results["floods"] = build_floods(flood_rounds)
    return results


def evaluate_targets(results: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Each of the issue's targets: its value in this run, the goal and whether it is met.
    Only targets whose scenarios ran (``--scenarios``): a skipped one is not a miss."""
    targets: list[dict[str, Any]] = []
    ratios = results.get("ratios", {})
    scenarios = results.get("scenarios", {})
    if not scenarios:
        return targets
    for name, goal in RATIO_TARGETS.items():
        if not set(RATIOS[name]) <= set(scenarios):
            continue
        value = ratios.get(name)
        targets.append(
            {
                "name": name,
                "value": value,
                "goal": f">= {goal:.2f}",
                "met": value is not None and value >= goal,
            }
        )
    trips = [
        scenarios[name]["sql"].get("round_trips_per_request")
        for name in SEND_SCENARIOS
        if name in scenarios
    ]
    worst_trips = max((t for t in trips if t is not None), default=None)
    sends_ran = any(name in scenarios for name in SEND_SCENARIOS)
    targets.append(
        {
            "name": "round_trips_per_send",
            "value": worst_trips,
            "goal": f"<= {MAX_ROUND_TRIPS_PER_SEND}",
            "met": worst_trips is not None and worst_trips <= MAX_ROUND_TRIPS_PER_SEND,
        }
    )
    for name in (n for n in READ_SCENARIOS if n in scenarios):
        by_size = scenarios.get(name, {}).get("sql", {}).get("statements_by_page_size", {})
        counts = sorted(set(by_size.values()))
        targets.append(
            {
                "name": f"{name}_statements_constant",
                "value": by_size or None,
                "goal": "same statements per request at every page size",
                "met": len(by_size) >= 2 and len(counts) == 1,
            }
        )
    spreads = []
    for name in SEND_SCENARIOS:
        latency = scenarios.get(name, {}).get("latency_ms", {})
        if latency.get("open_p50") and latency.get("open_p99") is not None:
            spreads.append(latency["open_p99"] / latency["open_p50"])
    worst = round(max(spreads), 2) if spreads else None
    if not sends_ran:
        return [t for t in targets if t["name"] != "round_trips_per_send"]
    targets.append(
        {
            "name": "p99_over_p50_at_half_max",
            "value": worst,
            "goal": f"<= {MAX_P99_OVER_P50:.0f}",
            "met": worst is not None and worst <= MAX_P99_OVER_P50,
        }
    )
    return targets


# Figures compared with the baseline: (label, path into a scenario, True when higher is better)
FIGURES: list[tuple[str, tuple[str, ...], bool]] = [
    ("throughput /s", ("throughput_per_s",), True),
    ("p50 ms at half max", ("latency_ms", "open_p50"), False),
    ("p99 ms at half max", ("latency_ms", "open_p99"), False),
    ("CPU ms per request", ("cpu_ms_per_request", "total"), False),
    ("round trips per request", ("sql", "round_trips_per_request"), False),
]


def _dig(data: Mapping[str, Any], path: Sequence[str]) -> Any:
    value: Any = data
    for key in path:
        value = value.get(key) if isinstance(value, Mapping) else None
    return value


def speedups(latest: Mapping[str, Any], baseline: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Each figure against the baseline; ``speedup`` > 1 is better, whichever way it points."""
    rows = []
    for name in SCENARIOS:
        now, then = latest["scenarios"].get(name), baseline.get("scenarios", {}).get(name)
        if not now or not then:
            continue
        for label, path, higher_is_better in FIGURES:
            new, old = _dig(now, path), _dig(then, path)
            speedup = None
            if isinstance(new, int | float) and isinstance(old, int | float) and new and old:
                speedup = round(new / old if higher_is_better else old / new, 2)
            rows.append(
                {
                    "scenario": name,
                    "figure": label,
                    "baseline": old,
                    "latest": new,
                    "speedup": speedup,
                }
            )
    return rows


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return str(value)


def render(latest: Mapping[str, Any], baseline: Mapping[str, Any] | None) -> str:
    """The table printed at the end of ``make bench``."""
    lines = []
    machine, config = latest["machine"], latest["config"]
    lines.append(
        f"{machine.get('cores')} cores ({machine.get('cpu_model')}), PostgreSQL "
        f"{machine.get('postgresql')}, Python {machine.get('python')}, "
        f"{config.get('workers')} app worker(s), settler {config.get('settler', 'app')}, "
        f"{config.get('rounds')} rounds, medians"
    )
    if latest["scenarios"]:
        lines += render_gifts(latest, baseline)
    if latest.get("floods", {}).get("scenarios"):
        lines += render_floods(latest["floods"], config)
    return "\n".join(lines)


def render_floods(floods: Mapping[str, Any], config: Mapping[str, Any]) -> list[str]:
    """Issue 13's section: the ordinary loop's latency (ms) beside each flood, and the flood."""
    lines = [
        "",
        f"floods (issue 13): the ordinary loop for {_fmt(config.get('flood_s'), 0)} s, open "
        "(latency from the scheduled start), each flood in a process of its own",
    ]
    header = (
        f"{'scenario':<12} {'query p50':>9} {'p99':>7} {'n':>5} {'send p50':>9} {'p99':>7} "
        f"{'n':>5} {'fail':>5}  flood"
    )
    lines += [header, "-" * (len(header) + 40)]
    for name, scenario in floods["scenarios"].items():
        query, send = scenario["query"], scenario["send"]
        lines.append(
            f"{name:<12} {_fmt(query['p50']):>9} {_fmt(query['p99']):>7} "
            f"{_fmt(query['samples'], 0):>5} {_fmt(send['p50']):>9} {_fmt(send['p99']):>7} "
            f"{_fmt(send['samples'], 0):>5} {query['failures'] + send['failures']:>5}  "
            f"{_flood_text(scenario)}"
        )
    lines.append(
        f"query: {{ economy {{ creatorShare }} }} at {_fmt(config.get('query_rate_per_s'), 0)}/s; "
        f"send: sendGift to the watched stream at {_fmt(config.get('send_rate_per_s'), 0)}/s;\n"
        "n: answered requests; fail: refused, broken or unanswered 60 s after the loop's end"
    )
    lines += ["", "ratios to flood_quiet (median of per-round ratios):"]
    for name, value in floods["ratios"].items():
        lines.append(f"  {name:<34} {_fmt(value, 2):>8}")
    lines += ["", "targets (issue 13, floods):"]
    for target in floods["targets"]:
        mark = "met   " if target["met"] else "MISSED"
        lines.append(
            f"  {mark} {target['name']:<34} {_fmt(target['value'], 3)}  (goal {target['goal']})"
        )
    return lines


def _flood_text(scenario: Mapping[str, Any]) -> str:
    if "login" in scenario:
        login = scenario["login"]
        shares = ", ".join(
            f"{outcome.replace('_', ' ')} {share:.0%}" for outcome, share in login["shares"].items()
        )
        return (
            f"logIn {_fmt(login['clients'], 0)} clients from {_fmt(login['source_addresses'], 0)} "
            f"IPs: {_fmt(login['rate_per_s'])}/s, p50 {_fmt(login['p50'])} ms; {shares}"
        )
    if "feed" in scenario:
        feed = scenario["feed"]
        share = feed["on_time_share"]
        shown = f"{share:.1%}" if share is not None else "-"
        return (
            f"{_fmt(feed['acknowledged'], 0)}/{_fmt(feed['subscribers'], 0)} subscribed; "
            f"{shown} of {_fmt(feed['events'], 0)} events x subscribers within "
            f"{_fmt(feed['within_s'], 0)} s; delivery p50 {_fmt(feed['delivery_p50'])} ms, "
            f"p99 {_fmt(feed['delivery_p99'])} ms"
        )
    return "none"


def render_gifts(latest: Mapping[str, Any], baseline: Mapping[str, Any] | None) -> list[str]:
    """Issue 12's section: the gift path and the reads."""
    lines: list[str] = []
    header = (
        f"{'scenario':<16} {'req/s':>8} {'p50':>7} {'p99':>7} {'p99.9':>7} {'n':>5} "
        f"{'@ req/s':>8} {'app ms':>7} {'pg ms':>7} {'stmts':>6} {'trips':>6} {'fail':>5}"
    )
    lines += ["", header, "-" * len(header)]
    for name, scenario in latest["scenarios"].items():
        latency, cpu, sql = scenario["latency_ms"], scenario["cpu_ms_per_request"], scenario["sql"]
        lines.append(
            f"{name:<16} {_fmt(scenario['throughput_per_s']):>8} {_fmt(latency['open_p50']):>7} "
            f"{_fmt(latency['open_p99']):>7} {_fmt(latency['open_p999']):>7} "
            f"{_fmt(latency['open_samples'], 0):>5} {_fmt(latency['open_rate_per_s'], 0):>8} "
            f"{_fmt(cpu['app'], 2):>7} {_fmt(cpu['postgres'], 2):>7} "
            f"{_fmt(sql.get('statements_per_request')):>6} "
            f"{_fmt(sql.get('round_trips_per_request')):>6} {scenario['failures']:>5}"
        )
    lines.append(
        "req/s: closed loop; latencies (ms) of n requests in the open loop at half that "
        "(@ req/s);\nCPU ms per request of the app and PostgreSQL; statements and round "
        "trips per request on the wire"
    )
    lines += ["", "ratios (median of per-round ratios of throughput):"]
    for name, value in latest["ratios"].items():
        then = (baseline or {}).get("ratios", {}).get(name)
        lines.append(
            f"  {name:<28} {_fmt(value, 3):>8}   baseline {_fmt(then, 3)}"
            if baseline
            else f"  {name:<28} {_fmt(value, 3):>8}"
        )
    if baseline is not None:
        lines += ["", f"speed-up against the baseline of {baseline.get('created_at', '?')}:"]
        current = None
        for row in speedups(latest, baseline):
            if row["scenario"] != current:
                current = row["scenario"]
                lines.append(f"  {current}")
            lines.append(
                f"    {row['figure']:<26} {_fmt(row['baseline'], 2):>10} -> "
                f"{_fmt(row['latest'], 2):>10}   x{_fmt(row['speedup'], 2)}"
            )
    lines += ["", "targets (issue 12):"]
    for target in latest["targets"]:
        mark = "met   " if target["met"] else "MISSED"
        lines.append(
            f"  {mark} {target['name']:<34} {_fmt(target['value'], 3)}  (goal {target['goal']})"
        )
    return lines
