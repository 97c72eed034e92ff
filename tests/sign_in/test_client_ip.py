"""Which address a sign-in is counted against: X-Forwarded-For only from trusted proxies."""

from __future__ import annotations

import pytest

from app.settings import Settings
from app.sign_in.throttle import client_network
from app.web.client_ip import client_ip

PROXIES = Settings.from_env({"COINS_TRUSTED_PROXIES": "10.0.0.0/8, 2001:db8:ffff::1"})


@pytest.mark.parametrize(
    ("peer", "forwarded", "expected"),
    [
        # A client talking to us directly cannot pick its address.
        ("198.51.100.7", ["1.2.3.4"], "198.51.100.7"),
        # Behind our proxy: the address the proxy saw, not what the client wrote before it.
        ("10.0.0.2", ["6.6.6.6, 203.0.113.9"], "203.0.113.9"),
        # Two of our proxies in a row, the header split over two lines.
        ("10.0.0.2", ["6.6.6.6, 203.0.113.9", "10.1.1.1"], "203.0.113.9"),
        ("2001:db8:ffff::1", ["2001:db8:1::5"], "2001:db8:1::5"),
        # A proxy that sent no header: the proxy is all we know.
        ("10.0.0.2", [], "10.0.0.2"),
        # Garbage where the client's address should be is kept as it is, never skipped.
        ("10.0.0.2", ["1.2.3.4, not-an-ip"], "not-an-ip"),
    ],
)
def test_x_forwarded_for_is_read_only_as_far_as_trusted_proxies_wrote_it(
    peer: str, forwarded: list[str], expected: str
) -> None:
    assert client_ip(peer, forwarded, PROXIES.trusted_proxies) == expected


def test_without_trusted_proxies_the_header_is_ignored() -> None:
    assert client_ip("10.0.0.2", ["203.0.113.9"], ()) == "10.0.0.2"


@pytest.mark.parametrize(
    ("ip", "network"),
    [
        ("203.0.113.9", "203.0.113.9"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:bbbb::9", "2001:db8:1:2::/64"),  # one subscriber's /64, one count
        ("::ffff:203.0.113.9", "203.0.113.9"),
    ],
)
def test_an_ipv6_client_counts_by_its_64(ip: str, network: str) -> None:
    assert client_network(ip) == network
