"""A request id on every answer: the caller's when well formed, a new one otherwise."""

from __future__ import annotations

import re

import pytest
from litestar.testing import AsyncTestClient

GENERATED = re.compile(r"[0-9a-f]{32}")


async def test_every_answer_carries_a_new_request_id(client: AsyncTestClient) -> None:
    answers = [
        await client.post("/graphql", json={"query": "{ economy { creatorShare } }"}),
        await client.get("/graphql", params={"query": "{ economy { creatorShare } }"}),
        await client.get("/healthz"),
        await client.get("/no-such-page"),
        await client.get("/admin/login"),
    ]

    ids = [answer.headers.get("x-request-id", "") for answer in answers]
    assert all(GENERATED.fullmatch(value) for value in ids), ids
    assert len(set(ids)) == len(ids)


async def test_a_well_formed_request_id_is_kept(client: AsyncTestClient) -> None:
    sent = "lb-7f3a.edge:42_retry-1"

    answer = await client.post(
        "/graphql", json={"query": "{ economy { creatorShare } }"}, headers={"X-Request-ID": sent}
    )

    assert answer.headers["x-request-id"] == sent


@pytest.mark.parametrize(
    "sent",
    ["two words", "x" * 129, "<script>alert(1)</script>", "id;drop", '"quoted"', ""],
)
async def test_a_malformed_request_id_is_replaced(client: AsyncTestClient, sent: str) -> None:
    answer = await client.get("/healthz", headers={"X-Request-ID": sent})

    assert GENERATED.fullmatch(answer.headers["x-request-id"])
    assert answer.headers["x-request-id"] != sent
