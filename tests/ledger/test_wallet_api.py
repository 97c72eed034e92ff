"""The wallet over HTTP: balances, entries paged and filtered, and the published ``economy``."""

from __future__ import annotations

from litestar.testing import AsyncTestClient

from app import ledger
from app.core.money import Rate
from app.graphql.types.nodes import User
from app.ledger.codes import AccountCode, Currency, TransferKind
from app.main import create_app
from app.settings import EconomySettings
from app.users.tokens import issue_token
from tests.factories import fund, make_user
from tests.graphql.helpers import gql, gql_response

ENTRIES = """
query Entries($first: Int!, $after: String, $currency: WalletCurrency, $kinds: [LedgerEntryKind!]) {
  me {
    wallet {
      coins diamonds
      entries(first: $first, after: $after, currency: $currency, kinds: $kinds) {
        edges { cursor node { id kind currency amount balanceAfter createdAt description } }
        pageInfo { hasNextPage endCursor }
      }
    }
  }
}
"""


async def history(user_id: int) -> None:
    """Five purchases of 10..50 coins, then a spend of 7, then 3 diamonds adjusted in."""
    for amount in (10, 20, 30, 40, 50):
        await fund(user_id, amount)
    await ledger.transfer(
        TransferKind.GIFT_SENT,
        debit_account_id=await ledger.user_account_id(user_id, Currency.COIN),
        credit_account_id=await ledger.system_account_id(AccountCode.COIN_SINK),
        amount=7,
        description="Rose x7",
    )
    await ledger.transfer(
        TransferKind.ADJUSTMENT,
        debit_account_id=await ledger.system_account_id(AccountCode.DIAMOND_ISSUANCE),
        credit_account_id=await ledger.user_account_id(user_id, Currency.DIAMOND),
        amount=3,
    )


async def test_wallet_entries_page_newest_first(client: AsyncTestClient, settings) -> None:
    alice = await make_user("alice")
    await history(alice.id)
    token = issue_token(alice.id, settings.auth)

    seen, after, pages = [], None, 0
    while True:
        wallet = (await gql(client, ENTRIES, {"first": 3, "after": after}, token=token))["me"][
            "wallet"
        ]
        connection = wallet["entries"]
        seen += [edge["node"] for edge in connection["edges"]]
        pages += 1
        if not connection["pageInfo"]["hasNextPage"]:
            break
        after = connection["pageInfo"]["endCursor"]

    assert (wallet["coins"], wallet["diamonds"]) == (143, 3)
    assert pages == 3
    assert [(e["kind"], e["currency"], e["amount"], e["balanceAfter"]) for e in seen] == [
        ("ADJUSTMENT", "DIAMOND", 3, 3),
        ("GIFT_SENT", "COIN", -7, 143),
        ("PURCHASE", "COIN", 50, 150),
        ("PURCHASE", "COIN", 40, 100),
        ("PURCHASE", "COIN", 30, 60),
        ("PURCHASE", "COIN", 20, 30),
        ("PURCHASE", "COIN", 10, 10),
    ]
    assert seen[1]["description"] == "Rose x7"
    assert len({e["id"] for e in seen}) == 7


async def test_wallet_entries_filter_by_currency_and_kind(
    client: AsyncTestClient, settings
) -> None:
    alice = await make_user("alice")
    await history(alice.id)
    token = issue_token(alice.id, settings.auth)

    diamonds = await gql(client, ENTRIES, {"first": 10, "currency": "DIAMOND"}, token=token)
    spends = await gql(client, ENTRIES, {"first": 10, "kinds": ["GIFT_SENT"]}, token=token)
    none = await gql(client, ENTRIES, {"first": 10, "kinds": []}, token=token)

    assert [e["node"]["amount"] for e in diamonds["me"]["wallet"]["entries"]["edges"]] == [3]
    assert [e["node"]["amount"] for e in spends["me"]["wallet"]["entries"]["edges"]] == [-7]
    assert none["me"]["wallet"]["entries"]["edges"] == []


async def test_entries_page_size_is_capped(client: AsyncTestClient, settings) -> None:
    alice = await make_user("alice")
    token = issue_token(alice.id, settings.auth)

    body = await gql_response(client, ENTRIES, {"first": 101}, token=token)

    [error] = body["errors"]
    assert error["extensions"] == {"code": "INVALID_INPUT", "field": "first"}
    assert "100" in error["message"]
    ok = await gql(client, ENTRIES, {"first": 100}, token=token)
    assert ok["me"]["wallet"]["entries"]["edges"] == []


async def test_a_cursor_from_elsewhere_is_invalid_input(client: AsyncTestClient, settings) -> None:
    alice = await make_user("alice")
    token = issue_token(alice.id, settings.auth)

    body = await gql_response(client, ENTRIES, {"first": 5, "after": "bm9wZTox"}, token=token)

    assert body["errors"][0]["extensions"] == {"code": "INVALID_INPUT", "field": "after"}


async def test_the_wallet_of_another_user_is_null(settings) -> None:
    alice = await make_user("alice")
    bob = await make_user("bob")

    class Context:
        async def viewer_is(self, user_id: int) -> bool:
            return user_id == bob.id

    class Info:
        context = Context()

    assert await User(record=alice).wallet(Info()) is None
    assert await User(record=bob).wallet(Info()) is not None


async def test_economy_publishes_the_rates(settings) -> None:
    custom = settings.__class__(
        **{
            **settings.__dict__,
            "economy": EconomySettings(diamond_value=Rate(1, 4, "EUR"), minimum_payout_diamonds=5),
        }
    )
    async with AsyncTestClient(create_app(custom)) as client:
        economy = (
            await gql(
                client,
                "{ economy { creatorShare diamondValue { amount currencyCode } "
                "minimumPayoutDiamonds } }",
            )
        )["economy"]

    assert economy == {
        "creatorShare": "0.5",
        "diamondValue": {"amount": "0.0025", "currencyCode": "EUR"},
        "minimumPayoutDiamonds": 5,
    }
