"""Connecting and checking a Bluesky channel when no AppView answers for the profile: a PDS without
one, an account not indexed yet, an AppView that is down. The PDS's session is the proof."""

import pytest
from django.urls import reverse

from channels.models import Channel
from channels.networks.base import AuthorizationLost, ConnectError
from channels.networks.bluesky.connecting import connect
from tests.networks.bluesky.fake import ALICE, ALICE_DID, APP_PASSWORD, APPVIEW_TROUBLES
from tests.networks.bluesky.parts import fresh

CONNECT_URL = reverse("channels:connect-bluesky", kwargs={"slug": "acme"})
WRONG_PASSWORD = (
    "Bluesky did not accept this handle and app password. Check both, or create a new app password."
)

troubles = pytest.mark.parametrize("trouble", APPVIEW_TROUBLES)


@pytest.fixture
def alice(client, cast):
    client.force_login(cast.alice)
    return client


def check(client, channel):
    return client.post(reverse("channels:verify", kwargs={"slug": "acme", "code": channel.code}), follow=True)


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


# --- connect() ---------------------------------------------------------------------------------


@troubles
def test_it_connects_without_the_profile_when_no_appview_answers(fake_bluesky, trouble):
    fake_bluesky.appview = trouble

    account = connect(ALICE, APP_PASSWORD, fake_bluesky.url)

    assert (account.remote_id, account.handle) == (ALICE_DID, ALICE)
    assert (account.display_name, account.avatar_url) == ("", "")
    assert account.credentials["app_password"] == APP_PASSWORD and account.credentials["session"]
    assert fake_bluesky.logins == 1
    assert len(fake_bluesky.calls("app.bsky.actor.getProfile")) == 1


@troubles
def test_it_still_refuses_a_wrong_app_password_without_an_appview(fake_bluesky, trouble):
    fake_bluesky.appview = trouble

    with pytest.raises(ConnectError) as caught:
        connect(ALICE, "wrong-pass-word1", fake_bluesky.url)

    assert (caught.value.field, caught.value.message) == ("app_password", WRONG_PASSWORD)
    assert fake_bluesky.calls("app.bsky.actor.getProfile") == []


# --- verify() ----------------------------------------------------------------------------------


@troubles
def test_the_check_asks_the_pds_for_the_session_and_passes_without_an_appview(
    bluesky_channel, fake_bluesky, trouble
):
    fake_bluesky.appview = trouble

    account = bluesky_channel.adapter().verify()

    assert (account.remote_id, account.handle) == (ALICE_DID, ALICE)
    assert (account.display_name, account.avatar_url) == ("", "")
    assert len(fake_bluesky.calls("com.atproto.server.getSession")) == 1


def test_the_check_returns_the_profile_once_the_appview_answers(cast, fake_bluesky):
    fake_bluesky.appview = "not_indexed"
    account = connect(ALICE, APP_PASSWORD, fake_bluesky.url)
    channel = Channel.objects.save_connected(cast.workspace, account)
    fake_bluesky.appview = "serving"

    checked = channel.adapter().verify()

    assert checked.display_name == "Alice Example"
    assert checked.avatar_url == f"{fake_bluesky.url}/pages/avatar-{ALICE}.jpg"


@troubles
def test_the_check_refuses_a_revoked_app_password_once_the_session_is_dead(
    bluesky_channel, fake_bluesky, trouble
):
    fake_bluesky.appview = trouble
    fake_bluesky.set_password(ALICE, "a-new-app-password")
    fake_bluesky.expire_access_tokens()
    fake_bluesky.expire_refresh_tokens()

    with pytest.raises(AuthorizationLost) as caught:
        bluesky_channel.adapter().verify()

    assert caught.value.message == "Bluesky refused the app password: create a new one and reconnect."


def test_the_check_renews_an_expired_session_with_the_pds(bluesky_channel, fake_bluesky):
    fake_bluesky.appview = "none"
    fake_bluesky.expire_access_tokens()

    assert bluesky_channel.adapter().verify().remote_id == ALICE_DID
    assert fake_bluesky.refreshes == 1 and fake_bluesky.logins == 1


# --- the connect page and "Check connection" ---------------------------------------------------


@troubles
def test_the_connect_page_connects_the_channel_without_an_appview(alice, cast, fake_bluesky, trouble):
    fake_bluesky.appview = trouble

    response = alice.post(
        CONNECT_URL, {"handle": ALICE, "app_password": APP_PASSWORD, "pds_url": fake_bluesky.url}, follow=True
    )

    channel = Channel.objects.get(workspace=cast.workspace, network="bluesky")
    assert (channel.remote_id, channel.handle, channel.status) == (ALICE_DID, ALICE, Channel.Status.ACTIVE)
    assert (channel.display_name, channel.avatar_url) == ("", "")
    assert f"{channel} is connected." in messages_of(response)


@troubles
def test_the_connect_page_still_refuses_a_wrong_app_password(alice, fake_bluesky, trouble):
    fake_bluesky.appview = trouble

    response = alice.post(
        CONNECT_URL, {"handle": ALICE, "app_password": "wrong-pass-word1", "pds_url": fake_bluesky.url}
    )

    assert response.context["form"].errors["app_password"] == [WRONG_PASSWORD]
    assert not Channel.objects.exists()


def test_check_connection_passes_without_an_appview_and_fills_the_profile_in_later(alice, cast, fake_bluesky):
    fake_bluesky.appview = "down"
    alice.post(CONNECT_URL, {"handle": ALICE, "app_password": APP_PASSWORD, "pds_url": fake_bluesky.url})
    channel = Channel.objects.get()

    response = check(alice, channel)

    assert f"{channel} is connected and working." in messages_of(response)
    assert fresh(channel).display_name == ""

    fake_bluesky.appview = "serving"
    response = check(alice, channel)

    assert f"{channel} is connected and working." in messages_of(response)
    assert fresh(channel).display_name == "Alice Example"
    assert fresh(channel).avatar_url == f"{fake_bluesky.url}/pages/avatar-{ALICE}.jpg"


def test_check_connection_keeps_the_profile_when_the_appview_goes_away(alice, bluesky_channel, fake_bluesky):
    fake_bluesky.appview = "none"

    response = check(alice, bluesky_channel)

    assert f"{bluesky_channel} is connected and working." in messages_of(response)
    assert fresh(bluesky_channel).display_name == "Alice Example"


def test_check_connection_reports_a_revoked_app_password(alice, bluesky_channel, fake_bluesky):
    fake_bluesky.appview = "down"
    fake_bluesky.set_password(ALICE, "a-new-app-password")
    fake_bluesky.expire_refresh_tokens()
    fake_bluesky.expire_access_tokens()

    response = check(alice, bluesky_channel)

    assert fresh(bluesky_channel).status == Channel.Status.NEEDS_RECONNECT
    assert any("needs to be reconnected" in message for message in messages_of(response))


@pytest.mark.parametrize("trouble", ["none", "not_implemented", "down"])
def test_metrics_are_skipped_quietly_while_no_appview_answers(bluesky_channel, fake_bluesky, trouble):
    """Counts come from an AppView: without one there are none to read this time, which is no error
    of the post's (the hourly job tries again)."""
    from posts.metrics import refresh_recent
    from posts.models import Delivery, Post
    from tests.networks.bluesky.parts import Delivery as Part

    adapter = bluesky_channel.adapter()
    ref = adapter.publish_part(Part("Counted later").request())
    fake_bluesky.appview = trouble
    assert adapter.fetch_metrics([ref]) == {}

    post = Post.objects.create(workspace=bluesky_channel.workspace, author=None, status=Post.Status.PUBLISHED)
    Delivery.objects.create(
        post=post,
        channel=bluesky_channel,
        status=Delivery.Status.PUBLISHED,
        remote_parts=[ref.as_dict()],
        published_at=post.created,
    )
    assert refresh_recent()["errors"] == 0
