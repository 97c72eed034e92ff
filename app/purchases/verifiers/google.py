"""GOOGLE: Google Play purchases, verified with the Play Developer API.

``purchaseCoins`` sends the purchase token (or the Play Billing ``Purchase.getOriginalJson()``
text, which also names the product and the app). The token is looked up with
``purchases.products.get`` under our package name and the product of the package being bought,
with a service account's credentials (``google-api-python-client`` over ``google-auth``);
the answer must be a purchased (not pending or canceled), single-quantity order of that
product, made for this user (``obfuscatedExternalAccountId``, see ``app_account``), and paid
for: a license tester's test purchase (``purchaseType`` 0) is TEST_PURCHASE_REFUSED unless
the settings accept them (they do outside production).
After the credit commits it is consumed (``purchases.products.consume``): a purchase Google
does not see consumed or acknowledged within three days is refunded by Google, so a consume
that fails is retried when the app sends the token again (Play Billing returns unconsumed
purchases to the app), and a refused receipt is never consumed.

Real-time developer notifications arrive as Pub/Sub pushes whose OIDC token (RS256, signed
by Google) is checked against Google's certificates, the configured audience and the push
service account; ``voided_purchases`` reads the Voided Purchases API. No database here.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import google_auth_httplib2
import httplib2
import structlog
from google.auth import exceptions as auth_exceptions
from google.auth import jwt as google_jwt
from google.oauth2 import service_account
from googleapiclient.discovery import build_from_document
from googleapiclient.discovery_cache import get_static_doc
from googleapiclient.errors import HttpError

from app.core.errors import DomainError, ErrorCode
from app.purchases.codes import Provider
from app.purchases.verifiers import VerifiedPayment, check_receipt_shape, receipt_invalid
from app.settings import PaymentSettings

log = structlog.get_logger(__name__)

SCOPE = "https://www.googleapis.com/auth/androidpublisher"
GOOGLE_ISSUERS = frozenset({"accounts.google.com", "https://accounts.google.com"})
HTTP_TIMEOUT_S = 10
CERTS_TTL_S = 3600
# ProductPurchase.purchaseState
PURCHASED, CANCELED, PENDING = 0, 1, 2
# ProductPurchase.purchaseType, present only for these (absent: a real, paid purchase).
TEST_PURCHASE = 0
# Google's status codes that mean "no such purchase for this app and product".
UNKNOWN_PURCHASE_STATUSES = frozenset({400, 404, 410})


def default_http() -> Any:
    return httplib2.Http(timeout=HTTP_TIMEOUT_S)


# The transport of every call to Google (API, OAuth token, certificates). Tests swap in
# googleapiclient's ``HttpMockSequence``; one new ``Http`` per call (httplib2 is not
# thread-safe and the calls run in worker threads).
http_factory: Callable[[], Any] = default_http

_lock = threading.Lock()
# Keyed by the key's JSON: the credentials keep their access token for its hour.
_credentials: dict[str, service_account.Credentials] = {}
# certs URL -> (fetched at, {key id: PEM certificate})
_certs: dict[str, tuple[float, dict[str, str]]] = {}


def reset_caches() -> None:
    """Forget access tokens and certificates (tests; a rotated key)."""
    with _lock:
        _credentials.clear()
        _certs.clear()


class GoogleNotConfigured(Exception):
    """No package name or service account: no Google Play purchase can be checked."""


class GoogleUnavailable(Exception):
    """Google could not be asked (network, 5xx, our credentials refused): try later."""


class BadPushToken(Exception):
    """A Pub/Sub push without a valid OIDC token from the configured service account."""


@functools.cache
def _discovery_document() -> str:
    """The androidpublisher v3 discovery document shipped with google-api-python-client."""
    document = get_static_doc("androidpublisher", "v3")
    if document is None:  # pragma: no cover - the package always ships it
        raise GoogleNotConfigured("google-api-python-client lacks androidpublisher v3.")
    return str(document)


def _credentials_for(key_json: str) -> service_account.Credentials:
    with _lock:
        found = _credentials.get(key_json)
        if found is None:
            found = service_account.Credentials.from_service_account_info(
                json.loads(key_json), scopes=[SCOPE]
            )
            _credentials[key_json] = found
        return found


@dataclass(frozen=True)
class GooglePlay:
    """The Play Developer API for our app (blocking calls: run them in a thread)."""

    package_name: str
    service_account_key: str

    @classmethod
    def from_settings(cls, payments: PaymentSettings) -> GooglePlay:
        if not payments.google_package_name or not payments.google_service_account:
            raise GoogleNotConfigured("Google Play payments are not configured on this server.")
        return cls(payments.google_package_name, payments.google_service_account)

    def _purchases(self) -> Any:
        http = google_auth_httplib2.AuthorizedHttp(
            _credentials_for(self.service_account_key), http=http_factory()
        )
        return build_from_document(_discovery_document(), http=http).purchases()

    def _execute(self, request: Any) -> dict[str, Any]:
        try:
            return request.execute() or {}
        except HttpError:
            raise
        except (auth_exceptions.GoogleAuthError, httplib2.HttpLib2Error, OSError) as error:
            raise GoogleUnavailable(type(error).__name__) from None

    def product_purchase(self, product_id: str, token: str) -> dict[str, Any]:
        """``purchases.products.get``; raises ``HttpError`` or ``GoogleUnavailable``."""
        request = (
            self._purchases()
            .products()
            .get(packageName=self.package_name, productId=product_id, token=token)
        )
        return self._execute(request)

    def consume(self, product_id: str, token: str) -> None:
        request = (
            self._purchases()
            .products()
            .consume(packageName=self.package_name, productId=product_id, token=token)
        )
        self._execute(request)

    def voided_purchases(
        self, start_time_ms: int, *, page_size: int = 1000
    ) -> list[dict[str, Any]]:
        """Every voided one-time purchase since ``start_time_ms`` (Google keeps 30 days)."""
        voided = self._purchases().voidedpurchases()
        found: list[dict[str, Any]] = []
        page_token: str | None = None
        while True:
            request = voided.list(
                packageName=self.package_name,
                startTime=str(start_time_ms),
                maxResults=page_size,
                type=0,  # in-app products only (coins); subscriptions are not sold
                token=page_token,
            )
            try:
                page = self._execute(request)
            except HttpError as error:
                status = error.status_code
                raise GoogleUnavailable(f"voided purchases: Google answered {status}") from None
            found += [p for p in page.get("voidedPurchases", []) if isinstance(p, dict)]
            page_token = (page.get("tokenPagination") or {}).get("nextPageToken")
            if not page_token:
                return found


def _unavailable() -> DomainError:
    return DomainError(
        ErrorCode.SERVICE_UNAVAILABLE,
        "Google Play could not be reached to check this purchase; try again shortly.",
        "receipt",
    )


def parse_receipt(receipt: str, package_name: str) -> tuple[str, str | None]:
    """The purchase token and the product it names, from a bare token or the Play Billing
    purchase JSON; the JSON must be our app's."""
    receipt = check_receipt_shape(receipt)
    if not receipt.startswith("{"):
        return receipt, None
    try:
        data = json.loads(receipt)
    except ValueError:
        raise receipt_invalid("That Google Play purchase is not valid JSON.") from None
    token, product = data.get("purchaseToken"), data.get("productId")
    if not isinstance(token, str) or not token or not isinstance(product, str) or not product:
        raise receipt_invalid("A Google Play purchase names its purchaseToken and productId.")
    if data.get("packageName") != package_name:
        raise receipt_invalid("The Google Play purchase is for another app (packageName).")
    return token, product


@dataclass(frozen=True)
class GoogleVerifier:
    payments: PaymentSettings
    provider: Provider = Provider.GOOGLE
    # Outside development a purchase must name its buyer (``obfuscatedAccountId``).
    require_account_token: bool = True
    # A license tester's purchase (``purchaseType`` 0) is free: off, it credits nothing.
    accept_test_purchases: bool = True

    def verify(self, receipt: str) -> VerifiedPayment:
        """Only a purchase JSON names its product; ``purchaseCoins`` passes the package's."""
        return self.verify_for_product(receipt, "")

    def verify_for_product(self, receipt: str, product_id: str) -> VerifiedPayment:
        """Ask Google about the token under our package name and ``product_id`` (the
        package's; a purchase JSON's own product wins, and is then checked against it)."""
        try:
            play = GooglePlay.from_settings(self.payments)
        except GoogleNotConfigured as error:
            raise receipt_invalid(str(error)) from None
        token, named = parse_receipt(receipt, play.package_name)
        product = named or product_id
        if not product:
            raise receipt_invalid("A Google Play purchase is checked for a product id.")
        try:
            purchase = play.product_purchase(product, token)
        except HttpError as error:
            if error.status_code in UNKNOWN_PURCHASE_STATUSES:
                raise receipt_invalid(
                    "Google Play does not know this purchase token for this app and product."
                ) from None
            log.error("google.verify_failed", status=error.status_code, product_id=product)
            raise _unavailable() from None
        except GoogleUnavailable as error:
            log.error("google.verify_unreachable", reason=str(error), product_id=product)
            raise _unavailable() from None
        state = purchase.get("purchaseState")
        if state != PURCHASED:
            what = "pending" if state == PENDING else "canceled" if state == CANCELED else "unpaid"
            raise receipt_invalid(f"The Google Play purchase is {what}, not paid.")
        if purchase.get("quantity", 1) != 1:
            raise receipt_invalid("Google Play purchases of several packages at once are not sold.")
        if purchase.get("purchaseType") == TEST_PURCHASE and not self.accept_test_purchases:
            # Nobody paid: credited never, and never consumed (like any refused receipt).
            log.warning("google.test_purchase_refused", product_id=product)
            raise DomainError(
                ErrorCode.TEST_PURCHASE_REFUSED,
                "Google Play test purchases are not accepted on this server.",
                "receipt",
            )
        return VerifiedPayment(
            transaction_id=token,
            product_id=purchase.get("productId") or product,
            app_account_token=purchase.get("obfuscatedExternalAccountId"),
            requires_app_account_token=self.require_account_token,
            finished=purchase.get("consumptionState") == 1,
            country=purchase.get("regionCode")
            if isinstance(purchase.get("regionCode"), str)
            else None,
        )

    def finish(self, payment: VerifiedPayment) -> None:
        """Consume the credited purchase; a failure is logged, the next send retries it."""
        try:
            GooglePlay.from_settings(self.payments).consume(
                payment.product_id or "", payment.transaction_id
            )
        except (HttpError, GoogleUnavailable, GoogleNotConfigured) as error:
            log.warning(
                "google.consume_failed",
                product_id=payment.product_id,
                reason=type(error).__name__,
                status=getattr(error, "status_code", None),
            )


@dataclass(frozen=True)
class GoogleNotification:
    """A developer notification out of a verified Pub/Sub push."""

    message_id: str
    kind: str
    purchase_token: str | None
    # voidedPurchaseNotification.refundType: 1 full, 2 partial (quantity-based).
    refund_type: int | None = None


def _fetch_certs(url: str) -> dict[str, str]:
    now = time.monotonic()
    with _lock:
        cached = _certs.get(url)
    if cached is not None and now - cached[0] < CERTS_TTL_S:
        return cached[1]
    request = google_auth_httplib2.Request(http_factory())
    try:
        response = request(url, method="GET")
    except auth_exceptions.TransportError as error:
        raise GoogleUnavailable("certificates unreachable") from error
    if response.status != 200:
        raise GoogleUnavailable(f"certificates answered {response.status}")
    certs = json.loads(response.data)
    if not isinstance(certs, dict) or not certs:
        raise GoogleUnavailable("certificates are not a key id -> PEM map")
    with _lock:
        _certs[url] = (now, certs)
    return certs


def verify_push_token(authorization: str | None, payments: PaymentSettings) -> Mapping[str, Any]:
    """The claims of the push's OIDC token: Google-signed, for our audience, issued to the
    configured push service account. Raises ``BadPushToken`` (or ``GoogleUnavailable``
    when Google's certificates cannot be fetched)."""
    audience = payments.google_pubsub_audience
    email = payments.google_pubsub_service_account
    if not audience or not email:
        raise BadPushToken("Google notifications are not configured.")
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise BadPushToken("no bearer token")
    certs = _fetch_certs(payments.google_pubsub_certs_url)
    try:
        claims = google_jwt.decode(token.strip(), certs=certs, audience=audience)
    except (auth_exceptions.GoogleAuthError, ValueError) as error:
        raise BadPushToken(str(error)) from None
    if claims.get("iss") not in GOOGLE_ISSUERS:
        raise BadPushToken("not issued by Google")
    if claims.get("email") != email or claims.get("email_verified") is not True:
        raise BadPushToken("not the configured push service account")
    return claims


def parse_push(body: bytes, package_name: str) -> GoogleNotification:
    """The developer notification in a Pub/Sub push body; ValueError when it is none."""
    envelope = json.loads(body)
    message = envelope.get("message") if isinstance(envelope, dict) else None
    if not isinstance(message, dict) or not isinstance(message.get("messageId"), str):
        raise ValueError("not a Pub/Sub push")
    try:
        data = json.loads(base64.b64decode(message.get("data") or "", validate=True))
    except (binascii.Error, ValueError):
        raise ValueError("the message data is not base64 JSON") from None
    if not isinstance(data, dict):
        raise ValueError("the message data is not a developer notification")
    if data.get("packageName") != package_name:
        raise ValueError("a notification for another app")
    message_id = message["messageId"]
    voided = data.get("voidedPurchaseNotification")
    if isinstance(voided, dict):
        return GoogleNotification(
            message_id,
            "VOIDED" if voided.get("productType", 2) == 2 else "VOIDED_SUBSCRIPTION",
            _str_or_none(voided.get("purchaseToken")),
            voided.get("refundType") if isinstance(voided.get("refundType"), int) else None,
        )
    one_time = data.get("oneTimeProductNotification")
    if isinstance(one_time, dict):
        return GoogleNotification(
            message_id,
            f"ONE_TIME_{one_time.get('notificationType')}",
            _str_or_none(one_time.get("purchaseToken")),
        )
    kind = next((key for key in data if key.endswith("Notification")), "unknown")
    return GoogleNotification(message_id, kind[:64], None)


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
