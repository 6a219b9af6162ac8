"""Naming the server software from a version string, and reading rate-limit reset times, offline."""

from email.utils import formatdate

import pytest

from channels.networks.mastodon.profiles import profile_for, software_from_version, software_version
from channels.networks.mastodon.ratelimit import SAFETY_MARGIN, retry_after


@pytest.mark.parametrize(
    "version, software, own_version",
    [
        ("4.3.0", "mastodon", "4.3.0"),
        ("4.2.0+glitch", "mastodon", "glitch"),
        ("2.7.2 (compatible; Akkoma 3.13.2)", "akkoma", "3.13.2"),
        ("3.5.3 (compatible; Pixelfed 0.11.13)", "pixelfed", "0.11.13"),
        ("3.5.3+0.20.0", "gotosocial", "0.20.0"),
        ("takahe/0.11.0", "takahe", "0.11.0"),
        ("Frobnicator", "", ""),
    ],
)
def test_it_names_the_software_in_a_version_string(version, software, own_version):
    assert software_from_version(version) == software
    if software:
        assert software_version(version) == own_version


def test_limits_never_read_are_mastodons_and_unrecognised_software_is_counted_strictly():
    assert profile_for({}).software == "mastodon"
    assert profile_for({"server_software": "pleroma"}).software == "pleroma"
    assert profile_for({"software": ""}).counting == "strictest"
    assert profile_for({"software": "misskey"}).counting == "strictest"


NOW = 1_800_000_000.0  # 2027-01-15T08:00:00Z


@pytest.mark.parametrize(
    "reset",
    ["2027-01-15T08:00:30.000Z", "2027-01-15T08:00:30Z", str(int(NOW) + 30), "30"],
    ids=["iso-ms", "iso-seconds", "epoch", "seconds"],
)
def test_every_reset_format_gets_the_margin(reset):
    assert retry_after({"X-RateLimit-Reset": reset}, now=NOW) == pytest.approx(30 + SAFETY_MARGIN)


def test_a_reset_is_read_against_the_servers_clock_unless_its_date_is_ambiguous():
    server_now = formatdate(NOW - 10, usegmt=True)  # the server's clock is 10 s behind ours
    reset = "2027-01-15T07:59:50Z"  # 0 s from the server's now

    assert retry_after({"X-RateLimit-Reset": reset, "Date": server_now}, now=NOW) == SAFETY_MARGIN
    two = f"{server_now}, {server_now}"
    assert retry_after({"X-RateLimit-Reset": reset, "Date": two}, now=NOW) == SAFETY_MARGIN  # past: 0
    assert retry_after({"X-RateLimit-Reset": "soon"}, now=NOW) is None
    assert retry_after({"Retry-After": "12"}, now=NOW) == 12 + SAFETY_MARGIN
    assert retry_after({}, now=NOW) is None
