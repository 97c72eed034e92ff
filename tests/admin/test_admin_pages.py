"""What staff see across the admin: keyset pages, refusals beside the form, one stylesheet."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from litestar.testing import AsyncTestClient

from app.admin.routes import fraud as fraud_routes
from app.admin.routes import gifts as gift_routes
from app.admin.routes import offers as offer_routes
from app.admin.routes import packages as package_routes
from app.admin.templating import TEMPLATE_DIRECTORY
from app.core.money import Money
from app.fraud import review
from app.fraud import service as fraud
from app.fraud.codes import FraudRule, Severity
from app.gifts import catalog
from app.offers import catalog as offers
from app.payouts import service as payouts
from app.purchases import packages
from app.purchases.codes import Platform
from app.settings import Settings
from tests.admin.helpers import make_staff, post_form, sign_in
from tests.factories import give_diamonds, make_gift, make_stream, make_user, send, staff
from tests.statements import count_statements

_NEXT = re.compile(r'<a class="button" rel="next" href="([^"]+)"')
_PREV = re.compile(r'<a class="button" rel="prev" href="([^"]+)"')


def _link(pattern: re.Pattern[str], html: str) -> str | None:
    found = pattern.search(html)
    return found.group(1).replace("&amp;", "&") if found else None


async def _walk(client: AsyncTestClient, start: str, row: re.Pattern[str]) -> list[list[str]]:
    """Follow the Next links from ``start``; the rows of each page, in order."""
    pages, url = [], start
    while url:
        response = await client.get(url)
        assert response.status_code == 200, response.text
        pages.append(row.findall(response.text))
        url = _link(_NEXT, response.text)
        assert len(pages) < 20, "the pager never ends"
    return pages


async def _queue_of(
    count: int, client: AsyncTestClient, monkeypatch: pytest.MonkeyPatch
) -> list[int]:
    """``count`` open flags, two to a page, a moderator signed in; the flag ids in order."""
    monkeypatch.setattr(fraud_routes, "PAGE", 2)
    await make_staff("mod", "MODERATOR")
    await sign_in(client, "mod")
    for n in range(count):
        user = await make_user(f"suspect.{n}")
        severity = (Severity.HIGH, Severity.LOW)[n % 2]
        await fraud.raise_flag(user.id, FraudRule.CREATOR_REPORT, severity, {"n": n})
    return [flag.id for flag in await fraud.list_flags(limit=100)]


async def test_the_fraud_queue_pages_by_keyset_and_shows_each_flag_once(
    client: AsyncTestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    queue = await _queue_of(5, client, monkeypatch)

    pages = await _walk(client, "/admin/fraud?status=OPEN", re.compile(r'data-flag="(\d+)"'))

    assert [len(page) for page in pages] == [2, 2, 1]
    assert [int(i) for page in pages for i in page] == queue  # each once, in queue order
    second = await client.get(f"/admin/fraud?status=OPEN&after={queue[1]}")
    back = _link(_PREV, second.text)
    assert back is not None
    assert re.findall(r'data-flag="(\d+)"', (await client.get(back)).text) == [
        str(queue[0]),
        str(queue[1]),
    ]


async def test_a_flag_closed_meanwhile_does_not_push_another_off_the_next_page(
    client: AsyncTestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    queue = await _queue_of(4, client, monkeypatch)
    first = await client.get("/admin/fraud")
    onward = _link(_NEXT, first.text)
    assert onward is not None

    await fraud.dismiss_flag(queue[0], actor=staff("mod", "MODERATOR"), note="a fan")
    second = await client.get(onward)

    # With an offset the third flag would have slid onto page one, unseen.
    assert re.findall(r'data-flag="(\d+)"', second.text) == [str(queue[2]), str(queue[3])]


async def test_the_gift_catalog_pages_by_keyset_and_shows_each_gift_once(
    client: AsyncTestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(gift_routes, "PAGE", 2)
    for slug, coins in [("rose", 1), ("heart", 5), ("donut", 30), ("hands", 30), ("lion", 99)]:
        await make_gift(slug, coins=coins)
    await make_staff("cat", "CATALOG")
    await sign_in(client, "cat")
    row = re.compile(r'data-gift="([a-z-]+)"')

    first = await client.get("/admin/gifts")
    # A price edited between two clicks moves that gift, never the rest of the list.
    lion = next(g for g in (await catalog.search_gifts(limit=10)).items if g.slug == "lion")
    await catalog.edit_gift(
        lion.id,
        name="Lion",
        coin_cost=2,
        diamond_value=None,
        image_url="",
        creator_share=Settings().economy.creator_share,
        actor=staff("cat", "CATALOG"),
    )
    rest = await _walk(client, _link(_NEXT, first.text) or "", row)

    assert row.findall(first.text) == ["rose", "heart"]
    assert rest == [["donut", "hands"]]
    assert "Next page" not in (await client.get(_link(_NEXT, first.text) or "")).text


async def test_the_offer_list_pages_by_keyset_with_its_filter_and_codes_left(
    client: AsyncTestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(offer_routes, "PAGE", 2)
    made = {}
    for n, active in enumerate([True, False, True, True, False, True]):
        made[n] = await offers.create_offer(
            brand=f"Brand{n}", title=f"Offer {n}", coin_cost=10 + n, active=active
        )
    await offers.add_codes(made[3], ["A-1", "A-2", "A-3"])
    await make_staff("cat", "CATALOG")
    await sign_in(client, "cat")
    row = re.compile(r'<tr data-offer="(\d+)"')

    everything = await _walk(client, "/admin/offers", row)
    active = await _walk(client, "/admin/offers?status=active", row)
    second = await client.get("/admin/offers?status=active&after=" + str(made[2]))

    ids = [str(made[n]) for n in range(6)]
    assert everything == [ids[0:2], ids[2:4], ids[4:6]]
    assert active == [[ids[0], ids[2]], [ids[3], ids[5]]]
    # Back from the second page of active offers to the first, the filter kept.
    back = await client.get(_link(_PREV, second.text) or "")
    assert row.findall(back.text) == [ids[0], ids[2]]
    offer_3 = second.text.split(f'data-offer="{made[3]}"')[1].split("</tr>")[0]
    assert '<td class="num" data-testid="codes-left">3' in offer_3


async def test_the_package_list_pages_in_platform_and_price_order(
    client: AsyncTestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(package_routes, "PAGE", 2)
    made = []
    for platform, cents in [
        (Platform.WEB, 999),
        (Platform.IOS, 499),
        (Platform.WEB, 199),
        (Platform.ANDROID, 499),
        (Platform.IOS, 499),
    ]:
        package = await packages.create_package(
            platform=platform, coins=cents, price=Money(cents, "USD")
        )
        made.append(package.id)
    await make_staff("cat", "CATALOG")
    await sign_in(client, "cat")
    row = re.compile(r'<tr data-package="(\d+)"')

    pages = await _walk(client, "/admin/packages", row)
    web = await _walk(client, "/admin/packages?platform=WEB", row)
    last = await client.get(_link(_NEXT, (await client.get("/admin/packages")).text) or "")
    back = await client.get(_link(_PREV, last.text) or "")

    ids = [str(n) for n in made]
    # ANDROID, then IOS (cheapest first, then by id), then WEB: each package once.
    assert pages == [[ids[3], ids[1]], [ids[4], ids[2]], [ids[0]]]
    assert web == [[ids[2], ids[0]]]
    assert row.findall(back.text) == [ids[3], ids[1]]


@pytest.mark.parametrize(
    "path",
    [
        "/admin/fraud?after=not-a-cursor",
        "/admin/fraud?after=987654",
        "/admin/fraud?before=1.2",
        "/admin/gifts?after=12",
        "/admin/gifts?before=a.b",
        "/admin/offers?after=x",
        "/admin/offers?before=1.2",
        "/admin/packages?after=9.1.1",
        "/admin/packages?before=1",
    ],
)
async def test_a_broken_page_link_says_so_instead_of_failing(
    client: AsyncTestClient, path: str
) -> None:
    await make_staff("boss", "ADMIN")
    await sign_in(client, "boss")

    response = await client.get(path)

    assert response.status_code == 400
    assert "That page link is out of date or broken" in response.text


async def test_reversing_a_gift_outside_the_subjects_history_is_refused_beside_the_form(
    client: AsyncTestClient,
) -> None:
    sender = await make_user("sender.sid", coins=1_000)
    stranger = await make_user("stranger", coins=1_000)
    stream = await make_stream(await make_user("host.hana"))
    gift = await make_gift(coins=10)
    await send(sender, stream, gift)
    unrelated = (await send(stranger, stream, gift)).event
    await fraud.raise_flag(sender.id, FraudRule.CREATOR_REPORT, Severity.LOW, {})
    [flag] = await fraud.list_flags()
    await make_staff("mod", "MODERATOR")
    await sign_in(client, "mod")
    page = f"/admin/fraud/{flag.id}"

    response = await post_form(
        client,
        f"{page}/reverse",
        page,
        {"gift_event_id": str(unrelated.id), "reason": "wrong one", "confirm": "yes"},
    )

    assert response.status_code == 400
    beside = response.text.split('id="reverse-error">', 1)[1].split("</div>", 1)[0]
    assert beside == "Choose one of this user&#39;s gifts."
    assert await review.reversals_of([unrelated.id]) == {}


async def test_a_refused_one_click_action_comes_back_as_an_error_flash(
    client: AsyncTestClient,
) -> None:
    await make_staff("boss", "ADMIN")
    await sign_in(client, "boss")

    refused = await post_form(
        client,
        "/admin/packages/424242/price",
        "/admin/packages",
        {"price": "4.99", "currency": "usd!"},
    )

    assert refused.status_code == 303
    assert refused.headers["location"] == "/admin/packages"
    shown = await client.get("/admin/packages")
    assert '<div class="flash error" role="status">A currency is a 3-letter ISO code.' in (
        shown.text
    )


async def test_the_payouts_queue_marks_flagged_creators_in_a_fixed_number_of_statements(
    client: AsyncTestClient, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    await make_staff("fin", "FINANCE")
    await sign_in(client, "fin")

    async def pending(handle: str, flagged: bool) -> None:
        creator = await make_user(handle)
        await give_diamonds(creator.id, 5_000)
        await payouts.request_payout(creator.id, 2_000, handle, economy=settings.economy)
        if flagged:
            await fraud.raise_flag(creator.id, FraudRule.CREATOR_REPORT, Severity.LOW, {})

    statements = count_statements(monkeypatch)

    counts = []
    for batch in (["one"], ["two", "three", "four", "five"]):
        for handle in batch:
            await pending(handle, flagged=True)
        statements.clear()
        queue = (await client.get("/admin/payouts")).text
        counts.append(len(statements))
        assert queue.count(">flagged</span>") == {1: 1, 2: 5}[len(counts)]

    assert counts[0] == counts[1], counts


def test_no_template_carries_an_inline_style_or_its_own_field_macro() -> None:
    offenders = [
        f"{path.relative_to(TEMPLATE_DIRECTORY)}:{number}"
        for path in Path(TEMPLATE_DIRECTORY).rglob("*.html")
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if re.search(r"\sstyle=", line)
        or (path.name != "_forms.html" and re.search(r"macro\s+(field|pager|filter_bar)", line))
    ]

    assert offenders == []
