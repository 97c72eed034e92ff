"""Cacheable reads: queries over GET, persisted queries (a manifest and APQ), Cache-Control."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from litestar.testing import AsyncTestClient

from app.graphql.persisted import (
    PersistedQueries,
    PersistedQueryError,
    load_manifest,
    sha256_of,
)
from app.main import create_app
from app.settings import HTTPSettings, SettingsError
from app.users.service import find_by_handle
from app.users.tokens import issue_token
from tests.conftest import Database
from tests.factories import make_user
from tests.streams.live import REDIS_URL, redis_or_skip

CATALOG = "query Catalog { gifts { slug coinCost } economy { minimumPayoutDiamonds } }"
SIGN_UP = (
    'mutation { signUp(input: {handle: "via.get", password: "a long password", '
    'birthDate: "2000-04-30"}) { token } }'
)


def persisted(sha256: str) -> dict[str, Any]:
    return {"persistedQuery": {"version": 1, "sha256Hash": sha256}}


def unique(query: str) -> str:
    """The same query under a name no other test uses: the stores outlive a test."""
    return query.replace("query Catalog", f"query Catalog{uuid.uuid4().hex}")


async def test_a_query_over_get_is_answered_and_a_cdn_may_keep_it(
    client: AsyncTestClient,
) -> None:
    answer = await client.get("/graphql", params={"query": CATALOG})
    same = await client.post("/graphql", json={"query": CATALOG})

    assert answer.status_code == 200
    assert answer.json() == same.json()
    assert "errors" not in answer.json()
    assert answer.headers["cache-control"] == "public, max-age=30"


async def test_get_takes_variables_and_an_operation_name(client: AsyncTestClient) -> None:
    query = (
        "query A($platform: Platform!) { coinPackages(platform: $platform) { coins } } "
        "query B { gifts { slug } }"
    )

    answer = await client.get(
        "/graphql",
        params={"query": query, "variables": json.dumps({"platform": "WEB"}), "operationName": "A"},
    )

    assert answer.json() == {"data": {"coinPackages": []}}


async def test_an_answer_to_a_bearer_token_is_private(client: AsyncTestClient, settings) -> None:
    alice = await make_user("alice")

    answer = await client.get(
        "/graphql",
        params={"query": "{ me { handle } }"},
        headers={"Authorization": f"Bearer {issue_token(alice.id, settings.auth)}"},
    )

    assert answer.json()["data"] == {"me": {"handle": "alice"}}
    assert answer.headers["cache-control"] == "private, no-store"


async def test_an_answer_with_errors_is_not_kept(client: AsyncTestClient) -> None:
    answer = await client.get("/graphql", params={"query": "{ economy { nope } }"})

    assert answer.json()["errors"]
    assert answer.headers["cache-control"] == "no-store"


async def test_a_mutation_over_get_is_refused_and_runs_nothing(client: AsyncTestClient) -> None:
    answer = await client.get("/graphql", params={"query": SIGN_UP})

    assert answer.status_code == 405
    assert answer.headers["allow"] == "POST"
    assert answer.headers["cache-control"] == "no-store"
    error = answer.json()["errors"][0]
    assert error["extensions"]["code"] == "METHOD_NOT_ALLOWED"
    assert "POST" in error["message"]
    assert await find_by_handle("via.get") is None


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({}, "No GraphQL query found"),
        ({"query": "{ economy { creatorShare } }", "variables": "{not json"}, "variables"),
        ({"query": "{ economy { creatorShare } }", "variables": "[1]"}, "variables"),
        ({"extensions": "7"}, "extensions"),
    ],
)
async def test_a_get_that_cannot_run_says_why(
    client: AsyncTestClient, params: dict[str, str], words: str
) -> None:
    answer = await client.get("/graphql", params=params, headers={"Accept": "application/json"})

    assert answer.status_code == 400
    assert answer.headers["cache-control"] == "no-store"
    error = answer.json()["errors"][0]
    assert error["extensions"]["code"] == "BAD_REQUEST"
    assert words.lower() in error["message"].lower()


async def test_apq_an_unknown_hash_asks_for_the_text_then_the_hash_alone_runs(
    client: AsyncTestClient,
) -> None:
    query = unique(CATALOG)
    sha256 = sha256_of(query)

    unknown = await client.post("/graphql", json={"extensions": persisted(sha256)})
    registered = await client.post(
        "/graphql", json={"query": query, "extensions": persisted(sha256)}
    )
    by_post = await client.post("/graphql", json={"extensions": persisted(sha256)})
    by_get = await client.get("/graphql", params={"extensions": json.dumps(persisted(sha256))})

    assert unknown.status_code == 200
    assert unknown.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
    assert unknown.json()["errors"][0]["message"] == "PersistedQueryNotFound"
    assert registered.json()["data"]["gifts"] == []
    assert by_post.json() == by_get.json() == registered.json()
    assert by_get.headers["cache-control"] == "public, max-age=30"


async def test_apq_over_get_a_miss_is_never_cached(client: AsyncTestClient) -> None:
    sha256 = sha256_of(unique(CATALOG))

    miss = await client.get("/graphql", params={"extensions": json.dumps(persisted(sha256))})

    assert miss.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
    assert miss.headers["cache-control"] == "no-store"


async def test_apq_a_hash_that_is_not_the_texts_is_refused_and_stores_nothing(
    client: AsyncTestClient,
) -> None:
    query = unique(CATALOG)
    claimed = sha256_of(unique(CATALOG))

    refused = await client.post("/graphql", json={"query": query, "extensions": persisted(claimed)})
    after = await client.post("/graphql", json={"extensions": persisted(claimed)})

    assert refused.status_code == 400
    assert refused.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_HASH_MISMATCH"
    assert after.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"


async def test_apq_a_document_that_fails_the_checks_is_not_stored(
    client: AsyncTestClient,
) -> None:
    query = f"query Bad{uuid.uuid4().hex} {{ economy {{ nope }} }}"
    sha256 = sha256_of(query)

    first = await client.post("/graphql", json={"query": query, "extensions": persisted(sha256)})
    after = await client.post("/graphql", json={"extensions": persisted(sha256)})

    assert first.json()["errors"][0]["message"].startswith("Cannot query field 'nope'")
    assert after.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"


@pytest.mark.parametrize(
    ("extensions", "code"),
    [
        (
            {"persistedQuery": {"version": 2, "sha256Hash": "a" * 64}},
            "PERSISTED_QUERY_NOT_SUPPORTED",
        ),
        ({"persistedQuery": {"version": 1, "sha256Hash": "short"}}, "PERSISTED_QUERY_INVALID"),
        ({"persistedQuery": "yes"}, "PERSISTED_QUERY_NOT_SUPPORTED"),
    ],
)
async def test_a_malformed_persisted_query_says_why(
    client: AsyncTestClient, extensions: dict[str, Any], code: str
) -> None:
    answer = await client.post("/graphql", json={"extensions": extensions})

    assert answer.status_code == 400
    assert answer.json()["errors"][0]["extensions"]["code"] == code


async def test_the_apq_store_of_a_process_is_bounded() -> None:
    store = PersistedQueries({}, max_entries=2)
    documents = [f"{{ economy {{ creatorShare }} }} # {n}" for n in range(3)]
    for document in documents:
        await store.remember(sha256_of(document), document)

    assert len(store.recent) == 2
    with pytest.raises(Exception, match="PersistedQueryNotFound"):
        await store.document(None, persisted(sha256_of(documents[0])))
    assert await store.document(None, persisted(sha256_of(documents[2]))) == documents[2]


def _manifest(tmp_path: Path, *documents: str) -> str:
    path = tmp_path / "queries.json"
    path.write_text(json.dumps({sha256_of(document): document for document in documents}))
    return str(path)


async def test_a_manifest_document_runs_by_its_hash(db: Database, tmp_path: Path) -> None:
    query = unique(CATALOG)
    settings = db.settings(http=HTTPSettings(persisted_queries_manifest=_manifest(tmp_path, query)))
    async with AsyncTestClient(create_app(settings)) as client:
        answer = await client.get(
            "/graphql", params={"extensions": json.dumps(persisted(sha256_of(query)))}
        )

    assert answer.json()["data"]["gifts"] == []


def test_a_manifest_whose_hash_is_not_its_document_stops_the_start(tmp_path: Path) -> None:
    path = tmp_path / "queries.json"
    path.write_text(json.dumps({"0" * 64: "{ economy { creatorShare } }"}))

    with pytest.raises(SettingsError, match="not the sha256 of its document"):
        load_manifest(str(path))


async def test_registered_only_runs_nothing_else_on_any_road(db: Database, tmp_path: Path) -> None:
    allowed = unique(CATALOG)
    other = unique(CATALOG)
    http = HTTPSettings(
        persisted_queries_manifest=_manifest(tmp_path, allowed), persisted_queries_only=True
    )
    async with AsyncTestClient(create_app(db.settings(http=http))) as client:
        by_hash = await client.post("/graphql", json={"extensions": persisted(sha256_of(allowed))})
        as_text = await client.post("/graphql", json={"query": allowed})
        refused = [
            await client.post("/graphql", json={"query": other}),
            await client.get("/graphql", params={"query": other}),
            await client.post(
                "/graphql", json={"query": other, "extensions": persisted(sha256_of(other))}
            ),
            # Strawberry's own road (incremental delivery) is checked the same way.
            await client.post(
                "/graphql",
                json={"query": other},
                headers={"accept": "application/json, multipart/mixed;q=0.1"},
            ),
            await client.post("/graphql", json={"query": SIGN_UP}),
        ]
        never_stored = await client.post(
            "/graphql", json={"extensions": persisted(sha256_of(other))}
        )

    assert by_hash.json()["data"]["gifts"] == []
    assert as_text.json() == by_hash.json()
    for answer in refused:
        body = answer.json()
        assert body.get("data") is None, body
        assert body["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_REGISTERED"
    assert never_stored.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
    assert await find_by_handle("via.get") is None


async def test_apq_documents_reach_every_worker_through_redis_and_expire(db: Database) -> None:
    await redis_or_skip()
    prefix = f"coins-test-{uuid.uuid4().hex}"
    settings = db.settings(
        redis_url=REDIS_URL, redis_channel_prefix=prefix, http=HTTPSettings(apq_ttl_s=120)
    )
    query = unique(CATALOG)
    sha256 = sha256_of(query)
    probe = aioredis.from_url(REDIS_URL)
    try:
        async with (
            AsyncTestClient(create_app(settings)) as first,
            AsyncTestClient(create_app(settings)) as second,
        ):
            await first.post("/graphql", json={"query": query, "extensions": persisted(sha256)})
            answer = await second.post("/graphql", json={"extensions": persisted(sha256)})
        ttl = await probe.ttl(f"{prefix}:apq:{sha256}")
    finally:
        await probe.delete(f"{prefix}:apq:{sha256}")
        await probe.aclose()

    assert answer.json()["data"]["gifts"] == []
    assert 0 < ttl <= 120


async def test_the_apq_store_in_redis_is_bounded_too() -> None:
    """A client may register documents without end (each a new alias or comment): Redis
    keeps the latest ``apq_redis_max_entries`` of them, not all for a day."""
    await redis_or_skip()
    prefix = f"coins-test-{uuid.uuid4().hex}"
    settings = {"redis_url": REDIS_URL, "redis_prefix": prefix, "ttl_s": 120}
    writer = PersistedQueries({}, max_entries=100, redis_max_entries=3, **settings)
    reader = PersistedQueries({}, max_entries=100, redis_max_entries=3, **settings)
    documents = [f"query Q{n} {{ gifts {{ slug }} }}" for n in range(5)]
    probe = aioredis.from_url(REDIS_URL)
    try:
        for document in documents:
            await writer.remember(sha256_of(document), document)
        # Another worker, which has none of them in its own memory, asks Redis.
        found = [await reader.document(None, persisted(sha256_of(d))) for d in documents[2:]]
        stored = [key async for key in probe.scan_iter(f"{prefix}:apq:*")]
        for gone in documents[:2]:
            with pytest.raises(PersistedQueryError) as missed:
                await reader.document(None, persisted(sha256_of(gone)))
            assert missed.value.code == "PERSISTED_QUERY_NOT_FOUND"
    finally:
        for key in [key async for key in probe.scan_iter(f"{prefix}:*")]:
            await probe.delete(key)
        await probe.aclose()
        await writer.close()
        await reader.close()

    assert found == documents[2:]
    assert len(stored) == 3


async def test_graphiql_page_refers_only_to_assets_the_app_serves(client: AsyncTestClient) -> None:
    import re

    page = await client.get("/graphql", headers={"Accept": "text/html"})
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    served = [await client.get(asset) for asset in assets if asset.startswith("/")]

    assert page.status_code == 200
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert [a for a in assets if not a.startswith(("/", "data:"))] == []
    assert len(served) == 6
    assert all(answer.status_code == 200 for answer in served)


async def test_apq_with_redis_unreachable_is_a_miss_never_a_failure(db: Database) -> None:
    # Nothing listens on port 1: every Redis call fails at once.
    settings = db.settings(redis_url="redis://127.0.0.1:1/0")
    query = unique(CATALOG)
    sha256 = sha256_of(query)
    async with (
        AsyncTestClient(create_app(settings)) as first,
        AsyncTestClient(create_app(settings)) as second,
    ):
        registered = await first.post(
            "/graphql", json={"query": query, "extensions": persisted(sha256)}
        )
        again = await first.post("/graphql", json={"extensions": persisted(sha256)})
        elsewhere = await second.post("/graphql", json={"extensions": persisted(sha256)})

    assert registered.json()["data"]["gifts"] == []
    assert again.json() == registered.json()
    assert elsewhere.status_code == 200
    assert elsewhere.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
