"""The SSRF guard's address classes: every way to reach a private network is refused, public
addresses pass (the fixtures are in conftest.py)."""

import pytest

from channels.guard import UnsafeURL, check_url


@pytest.mark.parametrize(
    "address",
    [
        "10.0.0.1",
        "127.0.0.1",
        "169.254.169.254",
        "::1",
        "fe80::1",
        "fc00::1",
        "::ffff:10.0.0.1",  # IPv4-mapped
        "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
        "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
        "2002:a00:1::1",  # 6to4 of 10.0.0.1
        "2002:7f00:1::",  # 6to4 of 127.0.0.1
        "::10.0.0.1",  # IPv4-compatible (deprecated)
        "::127.0.0.1",
        "::8.8.8.8",  # IPv4-compatible addresses are never used for real servers
        "fec0::1",  # site-local (deprecated)
        "feff::1",
        "64:ff9b:1::a00:1",  # local-use NAT64
    ],
)
def test_the_guard_refuses_addresses_that_reach_a_private_network(address, settings, names):
    settings.SSRF_ALLOW_PRIVATE = False
    names["inside.example"] = [address]

    with pytest.raises(UnsafeURL, match="points to a private network"):
        check_url("https://inside.example/")


@pytest.mark.parametrize("address", ["8.8.8.8", "2606:4700::1", "64:ff9b::808:808", "2002:808:808::1"])
def test_the_guard_lets_public_addresses_through(address, settings, names):
    settings.SSRF_ALLOW_PRIVATE = False
    names["outside.example"] = [address]

    assert check_url("https://outside.example/") == "https://outside.example/"
