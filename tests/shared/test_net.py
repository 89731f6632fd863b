from __future__ import annotations

from shared.net import client_ip, is_trusted_proxy

TRUSTED = ["127.0.0.1/32", "10.0.0.0/8"]


def test_untrusted_peer_cannot_spoof_its_address() -> None:
    assert client_ip("203.0.113.9", "1.2.3.4", TRUSTED) == "203.0.113.9"


def test_trusted_proxy_chain_is_walked_from_the_right() -> None:
    # client 198.51.100.7 -> spoofed "1.2.3.4" prefix -> LB 10.0.0.5 -> gateway peer 127.0.0.1
    assert client_ip("127.0.0.1", "1.2.3.4, 198.51.100.7, 10.0.0.5", TRUSTED) == "198.51.100.7"


def test_trusted_peer_without_header_is_the_client() -> None:
    assert client_ip("127.0.0.1", None, TRUSTED) == "127.0.0.1"


def test_garbage_hops_stop_the_walk() -> None:
    assert client_ip("127.0.0.1", "not-an-ip", TRUSTED) == "not-an-ip"


def test_is_trusted_proxy() -> None:
    assert is_trusted_proxy("127.0.0.1", TRUSTED)
    assert is_trusted_proxy("10.1.2.3", TRUSTED)
    assert not is_trusted_proxy("192.0.2.1", TRUSTED)
    assert not is_trusted_proxy(None, TRUSTED)
    assert not is_trusted_proxy("not-an-ip", TRUSTED)
