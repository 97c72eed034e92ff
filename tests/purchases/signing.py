"""Proofs of payment the way the providers make them, with keys the tests own.

Apple: a root CA, an intermediate carrying Apple's WWDR OID and a leaf carrying Apple's
receipt-signing OID (app-store-server-library checks both), ES256 JWS with the x5c chain.
Stripe: ``t=<unix>,v1=<HMAC-SHA256(secret, "t.payload")>`` over the raw body.
Google: a service-account key of our own (the OAuth assertion google-auth signs with it), and
a "Google" RSA key with its certificate that signs Pub/Sub push OIDC tokens (RS256, kid).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
)
from cryptography.x509.oid import NameOID

APPLE_INTERMEDIATE_OID = x509.ObjectIdentifier("1.2.840.113635.100.6.2.1")
APPLE_LEAF_OID = x509.ObjectIdentifier("1.2.840.113635.100.6.11.1")
ASN1_NULL = b"\x05\x00"
BUNDLE_ID = "com.example.coins"
STRIPE_SECRET = "whsec_test_secret_for_coins"


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _certificate(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: str,
    issuer_key: ec.EllipticCurvePrivateKey,
    *,
    ca: bool,
    apple_oid: x509.ObjectIdentifier | None,
) -> x509.Certificate:
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=not ca,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=ca,
                crl_sign=ca,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
    )
    if apple_oid is not None:
        builder = builder.add_extension(
            x509.UnrecognizedExtension(apple_oid, ASN1_NULL), critical=False
        )
    return builder.sign(issuer_key, hashes.SHA256())


def _b64(cert: x509.Certificate) -> str:
    return base64.b64encode(cert.public_bytes(Encoding.DER)).decode()


@dataclass
class AppleSigner:
    """A certificate chain of our own, trusted by the app through its settings."""

    root: x509.Certificate
    chain: list[str]
    leaf_key: ec.EllipticCurvePrivateKey
    bundle_id: str = BUNDLE_ID

    @classmethod
    def create(cls, *, apple_oids: bool = True) -> AppleSigner:
        root_key = ec.generate_private_key(ec.SECP256R1())
        intermediate_key = ec.generate_private_key(ec.SECP256R1())
        leaf_key = ec.generate_private_key(ec.SECP256R1())
        root = _certificate(
            "Test Root CA", root_key, "Test Root CA", root_key, ca=True, apple_oid=None
        )
        intermediate = _certificate(
            "Test WWDR",
            intermediate_key,
            "Test Root CA",
            root_key,
            ca=True,
            apple_oid=APPLE_INTERMEDIATE_OID if apple_oids else None,
        )
        leaf = _certificate(
            "Test StoreKit",
            leaf_key,
            "Test WWDR",
            intermediate_key,
            ca=False,
            apple_oid=APPLE_LEAF_OID if apple_oids else None,
        )
        return cls(root, [_b64(leaf), _b64(intermediate), _b64(root)], leaf_key)

    @property
    def root_der(self) -> bytes:
        return self.root.public_bytes(Encoding.DER)

    def sign(self, payload: dict[str, Any]) -> str:
        return jwt.encode(payload, self.leaf_key, algorithm="ES256", headers={"x5c": self.chain})

    def transaction(
        self,
        transaction_id: str,
        product_id: str,
        *,
        bundle_id: str | None = None,
        price_milli: int | None = 990,
        currency: str = "USD",
        account: int | None = None,
        **extra: Any,
    ) -> str:
        """A signed transaction; ``account`` is the buyer's user id the app names in it;
        ``extra`` adds fields (``revocationType``, ``revocationPercentage``...)."""
        from app.purchases.app_account import app_account_token

        now_ms = int(time.time() * 1000)
        payload: dict[str, Any] = {
            "transactionId": transaction_id,
            "originalTransactionId": transaction_id,
            "bundleId": bundle_id or self.bundle_id,
            "productId": product_id,
            "purchaseDate": now_ms,
            "signedDate": now_ms,
            "quantity": 1,
            "type": "Consumable",
            "inAppOwnershipType": "PURCHASED",
            "environment": "Sandbox",
            "transactionReason": "PURCHASE",
            "storefront": "USA",
            "currency": currency,
        }
        if price_milli is not None:
            payload["price"] = price_milli
        if account is not None:
            payload["appAccountToken"] = str(app_account_token(account))
        return self.sign(payload | extra)

    def refund_notification(
        self, transaction_id: str, product_id: str, uuid_: str | None = None
    ) -> str:
        return self.notification("REFUND", transaction_id, product_id, uuid_)

    def notification(
        self,
        notification_type: str,
        transaction_id: str,
        product_id: str,
        uuid_: str | None = None,
        **transaction: Any,
    ) -> str:
        """A signed App Store Server Notification V2 about one transaction."""
        return self.sign(
            {
                "notificationType": notification_type,
                "notificationUUID": uuid_ or str(uuid.uuid4()),
                "version": "2.0",
                "signedDate": int(time.time() * 1000),
                "data": {
                    "bundleId": self.bundle_id,
                    "environment": "Sandbox",
                    "signedTransactionInfo": self.transaction(
                        transaction_id, product_id, **transaction
                    ),
                },
            }
        )


def tamper(jws: str, **changes: Any) -> str:
    """The same signature over a payload someone edited."""
    header, payload, signature = jws.split(".")
    data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    data.update(changes)
    edited = base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")
    return f"{header}.{edited}.{signature}"


def stripe_signature(payload: bytes, *, secret: str = STRIPE_SECRET, at: int | None = None) -> str:
    timestamp = int(time.time()) if at is None else at
    signed = f"{timestamp}.".encode() + payload
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def stripe_event(event_type: str, obj: dict[str, Any], event_id: str | None = None) -> bytes:
    return json.dumps(
        {
            "id": event_id or f"evt_{uuid.uuid4().hex}",
            "object": "event",
            "type": event_type,
            "created": int(time.time()),
            "livemode": False,
            "data": {"object": obj},
        }
    ).encode()


GOOGLE_PACKAGE = "com.example.coins.android"
GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"
PUSH_AUDIENCE = "https://coins.example.com/webhooks/google"
PUSH_ACCOUNT = "rtdn-push@coins-test.iam.gserviceaccount.com"


def _rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass
class GoogleSigner:
    """Our Play service account's key, and the key Google signs push tokens with."""

    account_key: rsa.RSAPrivateKey
    push_key: rsa.RSAPrivateKey
    push_certificate: x509.Certificate
    key_id: str = "test-google-key-1"

    @classmethod
    def create(cls) -> GoogleSigner:
        push_key = _rsa_key()
        certificate = _self_signed(push_key, "accounts.google.com test")
        return cls(_rsa_key(), push_key, certificate)

    @property
    def service_account_json(self) -> str:
        pem = self.account_key.private_bytes(
            Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()
        ).decode()
        return json.dumps(
            {
                "type": "service_account",
                "project_id": "coins-test",
                "private_key_id": "sa-key-1",
                "private_key": pem,
                "client_email": "play@coins-test.iam.gserviceaccount.com",
                "client_id": "1",
                "token_uri": GOOGLE_TOKEN_URI,
            }
        )

    @property
    def certs(self) -> dict[str, str]:
        """What Google's certificates URL serves: key id -> PEM certificate."""
        return {self.key_id: self.push_certificate.public_bytes(Encoding.PEM).decode()}

    def push_token(
        self,
        *,
        audience: str = PUSH_AUDIENCE,
        email: str = PUSH_ACCOUNT,
        issuer: str = "https://accounts.google.com",
        expires_in: int = 3600,
        key: rsa.RSAPrivateKey | None = None,
    ) -> str:
        now = int(time.time())
        claims = {
            "iss": issuer,
            "aud": audience,
            "azp": "1234567890",
            "sub": "1234567890",
            "email": email,
            "email_verified": True,
            "iat": now - 60 if expires_in > 0 else now - 7200,
            "exp": now + expires_in,
        }
        return jwt.encode(
            claims, key or self.push_key, algorithm="RS256", headers={"kid": self.key_id}
        )


def _self_signed(key: rsa.RSAPrivateKey, common_name: str) -> x509.Certificate:
    now = datetime.now(UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .sign(key, hashes.SHA256())
    )


def google_push(notification: dict[str, Any], message_id: str | None = None) -> dict[str, Any]:
    """A Pub/Sub push body carrying a developer notification for our app."""
    data = {
        "version": "1.0",
        "packageName": GOOGLE_PACKAGE,
        "eventTimeMillis": str(int(time.time() * 1000)),
        **notification,
    }
    return {
        "message": {
            "data": base64.b64encode(json.dumps(data).encode()).decode(),
            "messageId": message_id or uuid.uuid4().hex,
            "publishTime": datetime.now(UTC).isoformat(),
        },
        "subscription": "projects/coins-test/subscriptions/play-rtdn",
    }
