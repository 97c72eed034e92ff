"""A local fake of the parts of Stripe's HTTP API the web checkout calls.

The real ``stripe`` library talks to it (``COINS_STRIPE_API_BASE``): form-encoded
``POST /v1/payment_intents`` and ``GET /v1/payment_intents/<id>``, bearer-key auth, and
Stripe's idempotency: a key replays its first answer for the same parameters and answers
400 ``idempotency_error`` for others. ``pay`` turns a stored PaymentIntent into the object
of the ``payment_intent.succeeded`` event Stripe would send.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

STRIPE_API_KEY = "sk_test_coins_fake"


def _nested(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """``metadata[user_id]=x`` as ``{"metadata": {"user_id": "x"}}`` (Stripe's encoding)."""
    found: dict[str, Any] = {}
    for key, value in pairs:
        parts = key.replace("]", "").split("[")
        target = found
        for part in parts[:-1]:
            target = target.setdefault(part, {})
        target[parts[-1]] = value
    return found


@dataclass
class FakeStripe:
    url: str = ""
    intents: dict[str, dict[str, Any]] = field(default_factory=dict)
    # (Idempotency-Key) -> (parameters, status, answer)
    replies: dict[str, tuple[dict[str, Any], int, dict[str, Any]]] = field(default_factory=dict)
    creations: int = 0
    # Set to (status, error body) to make the next create fail the way Stripe does.
    fail_next: tuple[int, dict[str, Any]] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def reset(self) -> None:
        with self.lock:
            self.intents.clear()
            self.replies.clear()
            self.creations = 0
            self.fail_next = None

    def create(self, params: dict[str, Any], key: str | None) -> tuple[int, dict[str, Any]]:
        with self.lock:
            if key is not None and key in self.replies:
                first, status, answer = self.replies[key]
                if first != params:
                    return 400, _error(
                        "idempotency_error",
                        "Keys for idempotent requests can only be used with the same parameters.",
                    )
                return status, answer
            if self.fail_next is not None:
                status, answer = self.fail_next
                self.fail_next = None
                return status, answer
            intent_id = f"pi_{uuid.uuid4().hex[:24]}"
            intent = {
                "id": intent_id,
                "object": "payment_intent",
                "amount": int(params["amount"]),
                "amount_received": 0,
                "currency": params["currency"],
                "client_secret": f"{intent_id}_secret_{uuid.uuid4().hex[:16]}",
                "status": "requires_payment_method",
                "metadata": params.get("metadata", {}),
                "description": params.get("description"),
                "livemode": False,
            }
            self.intents[intent_id] = intent
            self.creations += 1
            if key is not None:
                self.replies[key] = (params, 200, intent)
            return 200, intent

    def pay(
        self, intent_id: str, *, amount: int | None = None, currency: str | None = None
    ) -> dict[str, Any]:
        """The succeeded PaymentIntent (what was received may differ, to test mismatches)."""
        intent = dict(self.intents[intent_id])
        received = intent["amount"] if amount is None else amount
        return intent | {
            "status": "succeeded",
            "amount": received,
            "amount_received": received,
            "currency": currency or intent["currency"],
        }


def _error(kind: str, message: str) -> dict[str, Any]:
    return {"error": {"type": kind, "message": message}}


def _handler(fake: FakeStripe) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return

        def _reply(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Request-Id", f"req_{uuid.uuid4().hex[:12]}")
            self.end_headers()
            self.wfile.write(data)

        def _authorized(self) -> bool:
            if self.headers.get("Authorization") == f"Bearer {STRIPE_API_KEY}":
                return True
            self._reply(401, _error("invalid_request_error", "Invalid API Key provided."))
            return False

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode()
            if not self._authorized():
                return
            if self.path != "/v1/payment_intents":
                self._reply(404, _error("invalid_request_error", "Unrecognized request URL."))
                return
            params = _nested(parse_qsl(body, keep_blank_values=True))
            status, answer = fake.create(params, self.headers.get("Idempotency-Key"))
            self._reply(status, answer)

        def do_GET(self) -> None:
            if not self._authorized():
                return
            intent_id = self.path.removeprefix("/v1/payment_intents/").split("?")[0]
            intent = fake.intents.get(intent_id)
            if intent is None:
                self._reply(404, _error("invalid_request_error", "No such payment_intent."))
                return
            self._reply(200, intent)

    return Handler


def serve() -> Iterator[FakeStripe]:
    """Run a fake on a free local port until the generator is closed."""
    fake = FakeStripe()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    server.daemon_threads = True
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
