"""A local fake of the Stripe Connect API calls payouts make, and signed Connect events.

The real ``stripe`` library talks to it over HTTP (``COINS_STRIPE_API_BASE``): accounts,
account links, transfers and payouts. It honours ``Idempotency-Key`` the way Stripe does
(the same key gets the first answer back) and records every request, headers included
(``Stripe-Account`` says which connected account a call acted on). ``fail_next(path)``
makes the next call to a path fail like Stripe's API errors do.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

from tests.purchases.signing import stripe_signature

CONNECT_SECRET = "whsec_test_connect_secret_for_coins"
SECRET_KEY = "sk_test_fake_platform_key"


@dataclass
class Call:
    path: str
    params: dict[str, str]
    idempotency_key: str | None
    stripe_account: str | None


@dataclass
class FakeStripe:
    url: str = ""
    calls: list[Call] = field(default_factory=list)
    failing: set[str] = field(default_factory=set)
    answers: dict[str, tuple[int, dict[str, Any]]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fail_next(self, path: str) -> None:
        self.failing.add(path)

    def made(self, path: str) -> list[Call]:
        return [call for call in self.calls if call.path == path]

    def answer(self, call: Call) -> tuple[int, dict[str, Any]]:
        with self.lock:
            self.calls.append(call)
            if call.idempotency_key and call.idempotency_key in self.answers:
                return self.answers[call.idempotency_key]
            if call.path in self.failing:
                self.failing.discard(call.path)
                return 400, {
                    "error": {"type": "invalid_request_error", "message": "Insufficient funds"}
                }
            reply = 200, self._create(call)
            if call.idempotency_key:
                self.answers[call.idempotency_key] = reply
            return reply

    def _create(self, call: Call) -> dict[str, Any]:
        p, token = call.params, secrets.token_hex(6)
        metadata = {k[9:-1]: v for k, v in p.items() if k.startswith("metadata[")}
        if call.path == "/v1/accounts":
            return {
                "id": f"acct_{token}",
                "object": "account",
                "type": p.get("type"),
                "details_submitted": False,
                "payouts_enabled": False,
                "metadata": metadata,
            }
        if call.path == "/v1/account_links":
            return {
                "object": "account_link",
                "url": f"https://connect.stripe.test/setup/e/{p['account']}/{token}",
                "expires_at": int(time.time()) + 300,
            }
        if call.path == "/v1/transfers":
            return {
                "id": f"tr_{token}",
                "object": "transfer",
                "amount": int(p["amount"]),
                "currency": p["currency"],
                "destination": p["destination"],
                "metadata": metadata,
            }
        if call.path == "/v1/payouts":
            return {
                "id": f"po_{token}",
                "object": "payout",
                "amount": int(p["amount"]),
                "currency": p["currency"],
                "status": "pending",
                "metadata": metadata,
            }
        raise KeyError(call.path)


def _handler(fake: FakeStripe) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode()
            call = Call(
                self.path,
                dict(parse_qsl(body)),
                self.headers.get("Idempotency-Key"),
                self.headers.get("Stripe-Account"),
            )
            try:
                status, reply = fake.answer(call)
            except KeyError:
                status, reply = 404, {"error": {"type": "invalid_request_error"}}
            data = json.dumps(reply).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    return Handler


@contextmanager
def running() -> Iterator[FakeStripe]:
    fake = FakeStripe()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def connect_event(
    event_type: str,
    obj: dict[str, Any],
    *,
    account: str,
    event_id: str | None = None,
    created: int | None = None,
) -> tuple[bytes, dict[str, str]]:
    """A Connect event body and its headers, signed with the Connect endpoint's secret."""
    payload = json.dumps(
        {
            "id": event_id or f"evt_{secrets.token_hex(8)}",
            "object": "event",
            "type": event_type,
            "account": account,
            "created": int(time.time()) if created is None else created,
            "livemode": False,
            "data": {"object": obj},
        }
    ).encode()
    headers = {
        "stripe-signature": stripe_signature(payload, secret=CONNECT_SECRET),
        "content-type": "application/json",
    }
    return payload, headers
