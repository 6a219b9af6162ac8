"""The way out of "needs attention": the account's posts around the attempt, "This is it" (link the
real post; a thread goes on from the next part) and "It is not there: post it"."""

import pytest

from channels.networks.base import OutcomeUnknown
from channels.networks.bluesky.adapter import BlueskyAdapter
from channels.networks.mastodon.adapter import MastodonAdapter
from posts import attention
from posts.models import Delivery, Notification, Post
from tests.posts.engine import compose, dispatch_and_work
from tests.posts.review import S, url

pytestmark = pytest.mark.django_db(transaction=True)


def stuck_at(monkeypatch, adapter_class, index: int, *, posted: bool) -> list:
    """The first attempt at part `index` ends with OutcomeUnknown: after the post went out (`posted`),
    or after the checkpoint but before anything was sent. Returns the find_published calls made."""
    real_publish, real_find = adapter_class.publish_part, adapter_class.find_published
    stopped, asked = [], []

    def publish_part(self, request):
        if request.index == index and not stopped:
            stopped.append(index)
            if posted:
                real_publish(self, request)
            else:
                request.checkpoint({"tried": "yes"})
            raise OutcomeUnknown("The network did not answer in time.")
        return real_publish(self, request)

    def find_published(self, request):
        asked.append(request.index)
        return real_find(self, request)

    monkeypatch.setattr(adapter_class, "publish_part", publish_part)
    monkeypatch.setattr(adapter_class, "find_published", find_published)
    return asked


def needing_attention(cast, channel, parts) -> Delivery:
    post = compose(cast.alice, cast.workspace, [channel], parts)
    dispatch_and_work()
    delivery = post.deliveries.get()
    assert delivery.status == S.NEEDS_ATTENTION
    return delivery


def find_page(client, delivery) -> str:
    response = client.get(url("posts:find-delivery", code=delivery.code))
    assert response.status_code == 200
    return response.content.decode()


def token_for(delivery, remote_id) -> str:
    delivery.refresh_from_db()
    found = [p for p in attention.recent_posts(delivery) if p.ref.id == str(remote_id)]
    assert found, f"{remote_id} is not listed"
    return attention.link_token(delivery, attention.open_part(delivery), found[0].ref)


def test_the_post_page_offers_to_find_it_and_the_list_shows_the_real_post(
    client, cast, redis_conn, monkeypatch, fake_mastodon, mastodon_channel
):
    stuck_at(monkeypatch, MastodonAdapter, 0, posted=True)
    delivery = needing_attention(cast, mastodon_channel, ["Spring sale starts today"])
    client.force_login(cast.bob)
    detail = client.get(url("posts:detail", code=delivery.post.code)).content.decode()
    assert url("posts:find-delivery", code=delivery.code) in detail
    assert "Find it on Mastodon" in detail
    failed = client.get(url("posts:failed")).content.decode()
    assert url("posts:find-delivery", code=delivery.code) in failed
    html = find_page(client, delivery)
    [status] = fake_mastodon.statuses
    assert "Spring sale starts today" in html and "This is it</button>" in html
    assert "It is not there: post it</button>" in html and "makes a duplicate" in html
    assert status["json"]["url"] in html
    fragment = client.get(url("posts:find-delivery", code=delivery.code), HTTP_HX_REQUEST="true")
    assert b"<html" not in fragment.content and b"This is it" in fragment.content


def test_this_is_it_links_the_real_post_and_resolves_the_notice(
    client, cast, redis_conn, monkeypatch, fake_mastodon, mastodon_channel
):
    stuck_at(monkeypatch, MastodonAdapter, 0, posted=True)
    delivery = needing_attention(cast, mastodon_channel, ["Spring sale starts today"])
    assert Notification.objects.filter(kind=Notification.Kind.NEEDS_ATTENTION, resolved=None).exists()
    [status] = fake_mastodon.statuses
    client.force_login(cast.bob)
    response = client.post(
        url("posts:link-delivery", code=delivery.code), {"post": token_for(delivery, status["id"])}
    )
    assert response.status_code == 302
    delivery.refresh_from_db()
    assert delivery.status == S.PUBLISHED
    assert delivery.remote_parts[0]["id"] == str(status["id"])
    assert delivery.remote_url and delivery.published_at
    assert delivery.post.status == Post.Status.PUBLISHED
    assert not Notification.objects.filter(kind=Notification.Kind.NEEDS_ATTENTION, resolved=None).exists()
    assert len(fake_mastodon.statuses) == 1
    # A second click (or a stale page) changes nothing.
    again = client.post(url("posts:link-delivery", code=delivery.code), {"post": "forged"}, follow=True)
    assert b"expired" in again.content or b"no longer needs attention" in again.content


def test_linking_a_threads_middle_part_goes_on_with_the_rest(
    client, cast, redis_conn, monkeypatch, fake_mastodon, mastodon_channel
):
    asked = stuck_at(monkeypatch, MastodonAdapter, 1, posted=True)
    delivery = needing_attention(
        cast, mastodon_channel, ["First of three", "Second of three", "Third of three"]
    )
    first, second = fake_mastodon.statuses
    client.force_login(cast.bob)
    html = find_page(client, delivery)
    assert "part 2 of 3" in html
    client.post(url("posts:link-delivery", code=delivery.code), {"post": token_for(delivery, second["id"])})
    delivery.refresh_from_db()
    assert delivery.status == S.SCHEDULED
    assert [p["id"] for p in delivery.remote_parts] == [str(first["id"]), str(second["id"])]
    dispatch_and_work()
    delivery.refresh_from_db()
    assert delivery.status == S.PUBLISHED
    third = fake_mastodon.statuses[-1]
    assert len(fake_mastodon.statuses) == 3 and third["text"] == "Third of three"
    assert str(third["in_reply_to_id"]) == str(second["id"])
    assert asked == []


def test_post_it_anyway_sends_it_without_asking_the_network_again(
    client, cast, redis_conn, monkeypatch, fake_mastodon, mastodon_channel
):
    asked = stuck_at(monkeypatch, MastodonAdapter, 0, posted=False)
    delivery = needing_attention(cast, mastodon_channel, ["Never made it"])
    assert fake_mastodon.statuses == []
    client.force_login(cast.bob)
    assert "has no posts in that time" in find_page(client, delivery)
    response = client.post(url("posts:post-anyway-delivery", code=delivery.code), {"part": "0"}, follow=True)
    assert b"there will be two" in response.content
    delivery.refresh_from_db()
    assert delivery.status == S.SCHEDULED
    assert delivery.part_state[attention.ANYWAY]["part"] == 0
    assert delivery.part_state[attention.ANYWAY]["state"]["tried"] == "yes"
    assert "0" not in delivery.part_state
    dispatch_and_work()
    delivery.refresh_from_db()
    assert delivery.status == S.PUBLISHED and asked == []
    assert [s["text"] for s in fake_mastodon.statuses] == ["Never made it"]


def test_bluesky_lists_the_repository_and_links_or_posts_anyway(
    client, cast, redis_conn, monkeypatch, fake_bluesky, bluesky_channel
):
    stuck_at(monkeypatch, BlueskyAdapter, 0, posted=True)
    linked = needing_attention(cast, bluesky_channel, ["Out on Bluesky already"])
    [record] = fake_bluesky.records.values()
    client.force_login(cast.bob)
    html = find_page(client, linked)
    assert "Out on Bluesky already" in html and "Find it on Bluesky" in html
    assert fake_bluesky.calls("com.atproto.repo.listRecords")  # the PDS itself: no AppView needed
    uri = f"at://{record['did']}/app.bsky.feed.post/{record['rkey']}"
    client.post(url("posts:link-delivery", code=linked.code), {"post": token_for(linked, uri)})
    linked.refresh_from_db()
    assert linked.status == S.PUBLISHED and linked.remote_parts[0]["cid"] == record["cid"]

    asked = stuck_at(monkeypatch, BlueskyAdapter, 0, posted=False)
    missing = needing_attention(cast, bluesky_channel, ["Not out yet"])
    client.post(url("posts:post-anyway-delivery", code=missing.code), {"part": "0"})
    dispatch_and_work()
    missing.refresh_from_db()
    assert missing.status == S.PUBLISHED and asked == []
    assert sorted(r["value"]["text"] for r in fake_bluesky.records.values()) == [
        "Not out yet",
        "Out on Bluesky already",
    ]


def test_a_viewer_sees_the_list_but_cannot_answer(
    client, cast, redis_conn, monkeypatch, fake_mastodon, mastodon_channel
):
    stuck_at(monkeypatch, MastodonAdapter, 0, posted=True)
    delivery = needing_attention(cast, mastodon_channel, ["Spring sale starts today"])
    [status] = fake_mastodon.statuses
    token = token_for(delivery, status["id"])
    client.force_login(cast.victor)
    html = find_page(client, delivery)
    assert "Spring sale starts today" in html and "This is it" not in html and "post it</button>" not in html
    assert client.post(url("posts:link-delivery", code=delivery.code), {"post": token}).status_code == 403
    assert (
        client.post(url("posts:post-anyway-delivery", code=delivery.code), {"part": "0"}).status_code == 403
    )
    delivery.refresh_from_db()
    assert delivery.status == S.NEEDS_ATTENTION


def test_an_outage_or_a_network_that_cannot_list_gets_a_sentence(
    client, cast, redis_conn, monkeypatch, fake_mastodon, mastodon_channel
):
    stuck_at(monkeypatch, MastodonAdapter, 0, posted=True)
    delivery = needing_attention(cast, mastodon_channel, ["Spring sale starts today"])
    client.force_login(cast.bob)
    fake_mastodon.fail_next(502, count=5, path=f"/api/v1/accounts/{mastodon_channel.remote_id}/statuses")
    html = find_page(client, delivery)
    assert "did not list the posts just now" in html
    assert "It is not there: post it</button>" in html

    def cannot(self, since, until, limit=20):
        raise NotImplementedError

    monkeypatch.setattr(MastodonAdapter, "recent_posts", cannot)
    assert "gives no way to list" in find_page(client, delivery)


def test_an_answer_for_a_part_that_is_no_longer_open_is_refused(
    client, cast, redis_conn, monkeypatch, fake_mastodon, mastodon_channel
):
    stuck_at(monkeypatch, MastodonAdapter, 0, posted=False)
    delivery = needing_attention(cast, mastodon_channel, ["Never made it"])
    client.force_login(cast.bob)
    response = client.post(url("posts:post-anyway-delivery", code=delivery.code), {"part": "3"}, follow=True)
    assert b"moved on since the page was shown" in response.content
    delivery.refresh_from_db()
    assert delivery.status == S.NEEDS_ATTENTION
