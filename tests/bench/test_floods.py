"""Issue 13's flood scenarios: their arithmetic, their report and how they are chosen (no
benchmark is run)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bench import report
from bench.floods import (
    EVENT_ID,
    SEND_ID,
    delivery_summary,
    event_id,
    login_outcome,
    source_addresses,
)
from bench.run import LOGIN_PASSWORD, login_attempts, select_scenarios


def test_a_delivery_counts_when_it_arrives_within_the_window_of_its_gift() -> None:
    sent_at = {"e1": 100.0, "e2": 101.0}
    arrivals = {"e1": [100.5, 104.9, 106.0], "e2": [101.2], "stray": [100.1]}

    summary = delivery_summary(sent_at, arrivals, subscribers=3, within_s=5.0)

    assert summary["expected"] == 6  # two gifts, three subscribers
    assert summary["delivered"] == 4  # the stray event was not sent in the window
    assert summary["on_time"] == 3  # 6 s after e1 is late
    assert summary["on_time_share"] == 0.5
    assert summary["latency_ms"]["n"] == 4
    assert summary["latency_ms"]["max"] == 6000.0


def test_no_gift_sent_gives_no_share_rather_than_a_perfect_one() -> None:
    summary = delivery_summary({}, {"e1": [1.0]}, subscribers=1000, within_s=5.0)

    assert summary["on_time_share"] is None
    assert summary["latency_ms"] == {"n": 0}


def test_a_subscriber_that_never_subscribed_misses_every_gift() -> None:
    summary = delivery_summary({"e1": 0.0}, {"e1": [0.1]}, subscribers=2, within_s=5.0)

    assert summary["on_time_share"] == 0.5


REFUSED = b'{"data":{"logIn":{"token":null,"errors":[{"code":"%s"}]}}}'


@pytest.mark.parametrize(
    ("status", "body", "outcome"),
    [
        (200, b'{"data":{"logIn":{"token":"eyJ","errors":[]}}}', "token"),
        (200, REFUSED % b"INVALID_CREDENTIALS", "refused"),
        (200, REFUSED % b"RATE_LIMITED", "rate_limited"),
        (429, b"Too Many Requests", "rate_limited"),
        (200, b'{"data":null,"errors":[{"message":"Unexpected error."}]}', "failed"),
        (500, b"Internal Server Error", "failed"),
    ],
)
def test_login_answers_are_told_apart(status: int, body: bytes, outcome: str) -> None:
    assert login_outcome(status, body) == outcome


def test_event_ids_are_found_whatever_the_spacing() -> None:
    message = json.dumps({"type": "next", "payload": {"data": {"giftSent": {"id": "R2lm"}}}})
    answer = b'{"data":{"sendGift":{"giftEvent":{"id":"R2lmdA=="},"errors":[]}}}'

    assert event_id(EVENT_ID, message.encode()) == "R2lm"
    assert event_id(SEND_ID, answer) == "R2lmdA=="
    assert event_id(EVENT_ID, b'{"type":"ping"}') is None


def test_the_flood_comes_from_many_loopback_addresses() -> None:
    assert source_addresses(3) == ["127.0.1.1", "127.0.1.2", "127.0.1.3"]
    with pytest.raises(ValueError, match="1 to 254"):
        source_addresses(255)


def test_the_login_flood_mixes_right_wrong_and_unknown() -> None:
    handles = [f"bench.login.{n}" for n in range(1, 65)]

    pairs = login_attempts(handles, 1024)

    right = [h for h, password in pairs if password == LOGIN_PASSWORD]
    unknown = [h for h, _ in pairs if h.startswith("bench.nobody.")]
    assert len(pairs) == 1024
    assert len(right) == 128  # a quarter of the attempts on real handles
    assert len(unknown) == 512
    assert not set(right) & set(unknown)
    assert pairs == login_attempts(handles, 1024)  # the same every run
    assert pairs[:64] != sorted(pairs[:64])  # but not in handle order


def test_scenarios_are_chosen_by_group_or_name_and_a_flood_brings_its_quiet() -> None:
    assert select_scenarios("floods") == ("flood_quiet", "flood_login", "flood_feed")
    assert select_scenarios("flood_feed") == ("flood_quiet", "flood_feed")
    assert select_scenarios("read_wallet,gifts")[0] == "graphql_spread"
    assert len(select_scenarios("all")) == len(report.SCENARIOS) + len(report.FLOOD_SCENARIOS)
    with pytest.raises(ValueError, match="unknown scenario 'flod'"):
        select_scenarios("flod")
    with pytest.raises(ValueError, match="no scenario"):
        select_scenarios(" , ")


def _ordinary(query_p99: float, send_p50: float, *, failed: int = 0) -> dict[str, Any]:
    def loop(p50: float, p99: float, rate: float) -> dict[str, Any]:
        return {
            "rate_per_s": rate,
            "latency_ms": {"n": 100, "p50": p50, "p99": p99, "max": p99},
            "failed": failed,
            "unfinished": 0,
        }

    return {"query": loop(2.0, query_p99, 20), "send": loop(send_p50, send_p50 * 3, 5)}


def _flood_rounds() -> dict[str, list[dict[str, Any]]]:
    login = {
        "kind": "login",
        "clients": 16,
        "source_addresses": 64,
        "rate_per_s": 40.0,
        "latency_ms": {"p50": 20.0, "p99": 90.0},
        "outcomes": {"token": 10, "rate_limited": 80, "refused": 10, "failed": 0},
    }

    def feed(share: float) -> dict[str, Any]:
        return {
            "kind": "feed",
            "subscribers": 1000,
            "acknowledged": 1000,
            "heard_warm_up": 1000,
            "delivery": {
                "events": 50,
                "on_time_share": share,
                "within_s": 5.0,
                "latency_ms": {"p50": 40.0, "p99": 300.0},
            },
        }

    return {
        "flood_quiet": [{"ordinary": _ordinary(10.0, 10.0)} for _ in range(3)],
        "flood_login": [
            {"ordinary": _ordinary(p99, 10.0), "flood": login} for p99 in (20.0, 40.0, 50.0)
        ],
        "flood_feed": [
            {"ordinary": _ordinary(10.0, p50, failed=1), "flood": feed(share)}
            for p50, share in ((15.0, 0.995), (25.0, 0.98), (30.0, 0.999))
        ],
    }


def _results(flood_rounds: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    return report.build_results(
        rounds={},
        sql={},
        machine={"cores": 2},
        config={"workers": 1, "rounds": 3, "flood_s": 10.0},
        checks={"ok": True},
        created_at="2026-01-01T00:00:00+00:00",
        flood_rounds=flood_rounds,
    )


def test_floods_are_compared_with_quiet_round_by_round() -> None:
    floods = json.loads(json.dumps(_results(_flood_rounds())))["floods"]

    assert floods["ratios"]["login_flood_query_p99_over_quiet"] == 4.0  # median of 2, 4, 5
    assert floods["ratios"]["feed_send_p50_over_quiet"] == 2.5
    login = floods["scenarios"]["flood_login"]["login"]
    assert login["shares"]["rate_limited"] == 0.8
    feed = floods["scenarios"]["flood_feed"]["feed"]
    assert feed["on_time_share"] == 0.995
    assert floods["scenarios"]["flood_feed"]["send"]["failures"] == 3


def test_flood_targets_are_reported_met_or_missed() -> None:
    results = _results(_flood_rounds())
    targets = {t["name"]: t for t in results["floods"]["targets"]}

    assert not targets["login_flood_query_p99_over_quiet"]["met"]
    assert targets["login_flood_send_p99_over_quiet"]["met"]
    assert not targets["feed_send_p50_over_quiet"]["met"]
    assert targets["feed_delivered_on_time"]["met"]
    assert targets["flood_quiet_ordinary_failures"]["met"]
    assert not targets["flood_feed_ordinary_failures"]["met"]
    assert results["targets"] == []  # issue 12's scenarios did not run: nothing missed
    text = report.render(results, None)
    assert "MISSED login_flood_query_p99_over_quiet" in text
    assert "rate limited 80%" in text
    assert "99.5% of 50 events x subscribers within 5 s" in text
    assert "graphql_over_litestar" not in text


def test_a_flood_without_its_quiet_rounds_has_no_ratio() -> None:
    rounds = _flood_rounds()
    del rounds["flood_quiet"]

    floods = _results(rounds)["floods"]

    assert floods["ratios"] == {}
    assert "feed_delivered_on_time" in {t["name"] for t in floods["targets"]}


def test_a_flood_that_left_nothing_answered_misses_its_target() -> None:
    rounds = _flood_rounds()
    for entry in rounds["flood_login"]:
        entry["ordinary"]["query"]["latency_ms"] = {"n": 0}  # every query unanswered
        entry["ordinary"]["query"]["unfinished"] = 200

    floods = _results(rounds)["floods"]
    targets = {t["name"]: t for t in floods["targets"]}

    assert floods["ratios"]["login_flood_query_p99_over_quiet"] is None
    assert not targets["login_flood_query_p99_over_quiet"]["met"]
    assert not targets["flood_login_ordinary_failures"]["met"]
