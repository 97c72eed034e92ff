"""A live-feed event is rendered once for all the subscribers who see the same thing, and
never shows one viewer what only another may see."""

from __future__ import annotations

import asyncio
import json
from contextlib import AsyncExitStack

import pytest
from graphql import ExecutionResult, GraphQLError
from websockets.asyncio.client import ClientConnection

from app.core.ids import encode_id
from app.graphql import fanout
from app.graphql.fanout import SharedRenders, note_viewer_read
from app.users.tokens import issue_token
from tests.conftest import Database
from tests.factories import make_gift, make_stream, make_user
from tests.streams.live import next_event, send_gift, served, socket_of, wait_until

PRIVATE = """subscription($stream: ID!) {
  giftSent(streamId: $stream) { quantity sender { handle wallet { coins } } }
}"""
PUBLIC = """subscription($stream: ID!) {
  giftSent(streamId: $stream) { quantity gift { slug } }
}"""
WATCHERS = 6


async def _subscribe(ws: ClientConnection, query: str, stream_id: str) -> None:
    payload = {"query": query, "variables": {"stream": stream_id}}
    await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": payload}))


async def test_an_event_is_rendered_once_per_selection_and_private_fields_stay_private(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = db.settings()
    sender = await make_user("vera", coins=50)
    watchers = [await make_user(f"watcher{n}") for n in range(WATCHERS)]
    stream = await make_stream()
    rose = await make_gift("rose")
    stream_id = encode_id("LiveStream", stream.id)
    renderings = 0
    recorded = fanout._recorded

    async def counted(execute):  # type: ignore[no-untyped-def]
        nonlocal renderings
        renderings += 1
        return await recorded(execute)

    monkeypatch.setattr(fanout, "_recorded", counted)

    async with served(settings) as (app, address), AsyncExitStack() as sockets:
        sockets_of = {}
        for user in [sender, *watchers]:
            ws = await sockets.enter_async_context(
                socket_of(address, issue_token(user.id, settings.auth))
            )
            await _subscribe(ws, PRIVATE, stream_id)
            sockets_of[user.handle] = ws
        public = await sockets.enter_async_context(
            socket_of(address, issue_token(watchers[0].id, settings.auth))
        )
        await _subscribe(public, PUBLIC, stream_id)

        async def registered() -> bool:
            return bool(app.state.feed.subscriber_count(stream.id) == WATCHERS + 2)

        await wait_until(registered, "every subscription")
        variables = {"stream": stream_id, "gift": encode_id("Gift", rose.id)}
        token = issue_token(sender.id, settings.auth)
        assert await send_gift(address, token, {**variables, "quantity": 2, "key": "a"}) == []
        seen = {handle: await next_event(ws) for handle, ws in sockets_of.items()}
        assert await next_event(public) == {"quantity": 2, "gift": {"slug": "rose"}}

    # The sender sees their own wallet; everyone else sees the same event without it.
    assert seen.pop("vera") == {
        "quantity": 2,
        "sender": {"handle": "vera", "wallet": {"coins": 48}},
    }
    assert list(seen.values()) == [
        {"quantity": 2, "sender": {"handle": "vera", "wallet": None}}
    ] * (WATCHERS)
    # The sender's own rendering, one for every watcher of that selection, one of the other.
    assert renderings == 3


def _execution(data: dict[str, object], asks: tuple[int, ...], viewer: int) -> object:
    async def execute() -> ExecutionResult:
        await asyncio.sleep(0)
        for user_id in asks:
            note_viewer_read(user_id, matched=user_id == viewer)
        return ExecutionResult(data={**data, "for": viewer})

    return execute


async def test_a_rendering_is_shared_only_with_viewers_it_did_not_ask_about() -> None:
    renders = SharedRenders()
    operation = object()
    # Viewer 1 is the event's sender: its rendering names it and stays its own. The next
    # viewer renders for all the others, except viewer 2, whom the rendering asked about.
    results = await asyncio.gather(
        *(
            renders.render(operation, {}, viewer, _execution({}, (1, 2), viewer))  # type: ignore[arg-type]
            for viewer in (1, 3, 4, 2, 5)
        )
    )
    assert [result.data["for"] for result in results] == [1, 3, 3, 2, 3]  # type: ignore[index]

    # Other variables are another selection.
    other = await renders.render(operation, {"stream": "x"}, 4, _execution({}, (), 4))  # type: ignore[arg-type]
    assert other.data == {"for": 4}


async def test_a_rendering_with_errors_is_not_shared() -> None:
    renders = SharedRenders()
    operation = object()

    def failing(viewer: int):  # type: ignore[no-untyped-def]
        async def execute() -> ExecutionResult:
            await asyncio.sleep(0)
            return ExecutionResult(data={"for": viewer}, errors=[GraphQLError("boom")])

        return execute

    results = await asyncio.gather(*(renders.render(operation, {}, v, failing(v)) for v in (1, 2)))
    assert [result.data for result in results] == [{"for": 1}, {"for": 2}]
