"""Reading published posts' metrics and checking the connection, against the fake Mastodon server."""

import pytest

from channels.networks.base import (
    AuthorizationLost,
    PartContent,
    RemoteRef,
)
from tests.networks.mastodon.parts import Attempts

# --- metrics and verification ------------------------------------------------------------------


def test_it_fetches_metrics_in_one_batch(adapter, fake_mastodon):
    refs = [
        adapter.publish_part(Attempts(PartContent(f"Post {n}"), key=f"m{n}:0").request()) for n in range(3)
    ]
    fake_mastodon.set_counts(refs[0].id, favourites=5, reblogs=2, replies=1, quotes=3)
    fake_mastodon.requests.clear()

    metrics = adapter.fetch_metrics(refs)

    assert (metrics[refs[0].id].likes, metrics[refs[0].id].reposts) == (5, 2)
    assert (metrics[refs[0].id].replies, metrics[refs[0].id].quotes) == (1, 3)
    assert metrics[refs[1].id].likes == 0
    assert len(fake_mastodon.requests) == 1


def test_it_fetches_metrics_one_by_one_from_older_servers_and_skips_deleted_posts(
    mastodon_channel, fake_mastodon
):
    mastodon_channel.limits = {**mastodon_channel.limits, "server_version": "4.2.0"}
    adapter = mastodon_channel.adapter()
    ref = adapter.publish_part(Attempts(PartContent("Old server")).request())
    fake_mastodon.set_counts(ref.id, favourites=7)

    metrics = adapter.fetch_metrics([ref, RemoteRef(id="404404")])

    assert metrics == {ref.id: metrics[ref.id]}
    assert metrics[ref.id].likes == 7
    assert fake_mastodon.requests_to("GET", "/api/v1/statuses") == []


def test_it_falls_back_to_single_reads_when_batches_are_missing(adapter, fake_mastodon):
    ref = adapter.publish_part(Attempts(PartContent("Batchless")).request())
    fake_mastodon.batch_statuses = False
    fake_mastodon.set_counts(ref.id, reblogs=4)

    assert adapter.fetch_metrics([ref])[ref.id].reposts == 4


def test_it_verifies_the_connection_with_a_fresh_profile(adapter, fake_mastodon):
    fake_mastodon.account["display_name"] = "Alice Renamed"

    account = adapter.verify()

    assert account.display_name == "Alice Renamed"
    assert account.handle == f"@alice@{fake_mastodon.domain}"
    assert account.avatar_url.endswith("/avatars/alice.png")


def test_it_reports_a_revoked_token_on_verify(adapter, fake_mastodon):
    fake_mastodon.revoke(fake_mastodon.token)

    with pytest.raises(AuthorizationLost):
        adapter.verify()
