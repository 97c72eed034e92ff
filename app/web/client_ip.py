"""The client's address, for limits per IP.

The peer of the socket is the client unless it is one of ``COINS_TRUSTED_PROXIES``. Only
then is ``X-Forwarded-For`` read, and only as far as trusted proxies wrote it: walking from
the nearest hop outwards, the first address that is not a trusted proxy is the client.
Anything to its left was written by the client itself and could name anyone, so a client
cannot pick the address its sign-ins are counted against.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import Any

from litestar.connection import ASGIConnection

from app.settings import IPNetwork


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None


def client_ip(
    peer: str | None, forwarded_for: Sequence[str], trusted: Sequence[IPNetwork]
) -> str | None:
    """The client behind ``peer``, given the request's X-Forwarded-For header values."""
    if peer is None or not trusted:
        return peer
    hops = [hop.strip() for value in forwarded_for for hop in value.split(",") if hop.strip()]
    chain = [*hops, peer]
    for hop in reversed(chain):
        address = _address(hop)
        if address is None:
            return hop[:64]
        if not any(address in network for network in trusted):
            return str(address)
    return chain[0]  # every hop is one of ours: the farthest is as near as we can tell


def connection_ip(
    connection: ASGIConnection[Any, Any, Any, Any], trusted: Sequence[IPNetwork]
) -> str | None:
    peer = connection.client.host if connection.client else None
    return client_ip(peer, connection.headers.getall("x-forwarded-for", []), trusted)
