"""Object ids as the API shows them, and what a bad one in an argument answers.

A value that is no id of ours names no object, so where the API has a code for a
missing object of that kind a malformed id answers it too: a malformed ``giftId`` is
GIFT_UNAVAILABLE like a missing gift, an offer OFFER_UNAVAILABLE, a gift event
NOT_FOUND. The other kinds answer INVALID_INPUT, as they always have (clients and tests
rely on ``Not a valid CoinPackage id.``); an argument that needs another answer gets a
kind of its own (``dataclasses.replace``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

import strawberry
from strawberry.dataloader import DataLoader

from app.core.errors import DomainError, ErrorCode
from app.core.ids import decode_opaque, encode_opaque

RowT = TypeVar("RowT")


@dataclass(frozen=True)
class IdKind:
    """One kind of object's ids: ``encode`` for fields, ``decode`` for arguments."""

    type_name: str
    code: ErrorCode = ErrorCode.INVALID_INPUT
    message: str = ""

    def encode(self, row_id: int) -> strawberry.ID:
        return strawberry.ID(encode_opaque(self.type_name, row_id))

    def find(self, value: str) -> int | None:
        """The row an id names; None for a value that is no id of this kind."""
        return decode_opaque(self.type_name, value)

    def decode(self, value: str, field: str) -> int:
        """The row an id names; a value that is no id of this kind fails on ``field``."""
        row_id = self.find(value)
        if row_id is None:
            message = self.message or f"Not a valid {self.type_name} id."
            raise DomainError(self.code, message, field)
        return row_id

    async def load(self, value: str, loader: DataLoader[int, RowT | None]) -> RowT | None:
        """The row an id names, through ``loader``; None for a bad id or a missing row."""
        row_id = self.find(value)
        return None if row_id is None else await loader.load(row_id)


USER = IdKind("User")
LIVE_STREAM = IdKind("LiveStream")
GIFT = IdKind("Gift", ErrorCode.GIFT_UNAVAILABLE, "This gift is not available.")
GIFT_EVENT = IdKind("GiftEvent", ErrorCode.NOT_FOUND, "No such gift event.")
COIN_PACKAGE = IdKind("CoinPackage")
COIN_PURCHASE = IdKind("CoinPurchase")
CHECKOUT = IdKind("WebCheckout")
PAYOUT = IdKind("Payout")
PARTNER_OFFER = IdKind("PartnerOffer", ErrorCode.OFFER_UNAVAILABLE, "This offer is not available.")
REDEMPTION = IdKind("Redemption")
LEDGER_ENTRY = IdKind("LedgerEntry")
