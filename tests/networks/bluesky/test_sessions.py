"""A Bluesky channel's session (resumed, refreshed, shared between workers under a lock), the error
kinds of the PDS's answers, metrics and verify, against the fake PDS."""

import logging
import threading
import time

import pytest

from channels.networks.base import Account, AuthorizationLost, ContentRejected, TransientError
from channels.networks.bluesky import sessions
from channels.networks.bluesky.adapter import BlueskyAdapter
from channels.networks.bluesky.connecting import connect
from tests.networks.bluesky.fake import ALICE, ALICE_DID, APP_PASSWORD
from tests.networks.bluesky.parts import CREATE, Delivery, fresh, image_file, media, publish, retry

# --- sessions ----------------------------------------------------------------------------------


def test_it_reuses_the_session_for_a_hundred_publishes(bluesky_channel, fake_bluesky):
    assert fake_bluesky.logins == 1  # the connect
    adapter = bluesky_channel.adapter()

    for number in range(100):
        adapter.publish_part(Delivery(f"Post {number}").request())

    assert len(fake_bluesky.posts()) == 100
    assert fake_bluesky.logins == 1
    assert fake_bluesky.refreshes == 0


def test_it_refreshes_an_expired_access_token_and_saves_the_new_session(bluesky_channel, fake_bluesky):
    before = bluesky_channel.get_credentials()
    fake_bluesky.expire_access_tokens()

    publish(bluesky_channel, "After expiry")

    after = fresh(bluesky_channel).get_credentials()
    assert len(fake_bluesky.posts()) == 1
    assert fake_bluesky.refreshes == 1 and fake_bluesky.logins == 1
    assert after["session"] != before["session"]
    assert after["app_password"] == APP_PASSWORD
    # The saved session is the live one: a new worker uses it without refreshing or signing in.
    publish(fresh(bluesky_channel), "From another worker")
    assert fake_bluesky.refreshes == 1 and fake_bluesky.logins == 1


def test_it_refreshes_ahead_of_expiry_and_saves_the_session(bluesky_channel, fake_bluesky):
    fake_bluesky.access_ttl = 60  # the SDK refreshes tokens with under 15 minutes left
    fake_bluesky.expire_access_tokens()

    publish(bluesky_channel, "One")
    publish(fresh(bluesky_channel), "Two")

    assert len(fake_bluesky.posts()) == 2
    assert fake_bluesky.refreshes >= 2 and fake_bluesky.rejected_refreshes == 0
    assert fake_bluesky.logins == 1


def test_it_signs_in_again_with_the_app_password_when_the_session_is_dead(bluesky_channel, fake_bluesky):
    before = bluesky_channel.get_credentials()
    fake_bluesky.expire_access_tokens()
    fake_bluesky.expire_refresh_tokens()

    publish(bluesky_channel, "Still here")

    assert len(fake_bluesky.posts()) == 1
    assert fake_bluesky.logins == 2
    assert fresh(bluesky_channel).get_credentials()["session"] != before["session"]


def test_it_reports_authorization_lost_when_the_app_password_was_revoked(bluesky_channel, fake_bluesky):
    fake_bluesky.expire_access_tokens()
    fake_bluesky.expire_refresh_tokens()
    fake_bluesky.set_password(ALICE, "a-new-app-password")

    with pytest.raises(AuthorizationLost) as caught:
        publish(bluesky_channel, "Nope")

    assert caught.value.message == "Bluesky refused the app password: create a new one and reconnect."
    assert not fake_bluesky.posts()


def test_it_picks_up_a_session_another_worker_refreshed(bluesky_channel, fake_bluesky):
    first, second = bluesky_channel.adapter(), fresh(bluesky_channel).adapter()
    first.publish_part(Delivery("First worker").request())
    fake_bluesky.expire_access_tokens()

    second.publish_part(Delivery("Second worker refreshes").request())
    first.publish_part(Delivery("First worker again").request())

    assert len(fake_bluesky.posts()) == 3
    assert fake_bluesky.refreshes == 1
    assert fake_bluesky.rejected_refreshes == 0 and fake_bluesky.logins == 1


class SharedStore:
    """The channel's credentials row as two worker processes see it (saved and re-read under a lock)."""

    def __init__(self, credentials):
        self._lock = threading.Lock()
        self.credentials = dict(credentials)
        self.saves = 0

    def save(self, values):
        with self._lock:
            self.credentials = dict(values)
            self.saves += 1

    def load(self):
        with self._lock:
            return dict(self.credentials)

    def account(self, connected) -> Account:
        return Account(
            network="bluesky",
            remote_id=connected.remote_id,
            handle=connected.handle,
            server_url=connected.server_url,
            credentials=self.load(),
            save_credentials=self.save,
            load_credentials=self.load,
            lock_key=f"channel:shared-{id(self)}",
        )


def test_it_lets_two_workers_share_a_channel_without_killing_its_refresh_token(fake_bluesky):
    connected = connect(ALICE, APP_PASSWORD, fake_bluesky.url)
    store = SharedStore(connected.credentials)
    fake_bluesky.access_ttl = 60  # every call refreshes and rotates the refresh token
    fake_bluesky.expire_access_tokens()
    errors = []

    def worker(name):
        try:
            adapter = BlueskyAdapter(store.account(connected))
            for number in range(8):
                adapter.publish_part(Delivery(f"{name} {number}").request())
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(name,)) for name in ("left", "right")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert errors == []
    assert len(fake_bluesky.posts()) == 16
    assert fake_bluesky.rejected_refreshes == 0
    assert fake_bluesky.logins == 1
    assert store.saves == fake_bluesky.refreshes >= 16  # every rotation was saved


def test_it_waits_for_the_channel_lock_and_gives_up_as_transient(bluesky_channel, fake_bluesky, monkeypatch):
    import django_rq

    monkeypatch.setattr(sessions, "LOCK_WAIT", 0.2)
    holder = django_rq.get_connection("default").lock(f"lock:channel:{bluesky_channel.code}", timeout=5)
    assert holder.acquire(blocking=False)
    try:
        with pytest.raises(TransientError) as caught:
            publish(bluesky_channel, "Blocked")
    finally:
        holder.release()

    assert "Another job is using this Bluesky channel" in caught.value.message
    assert not fake_bluesky.calls(CREATE)


# --- error kinds -------------------------------------------------------------------------------


def test_it_turns_a_rate_limit_into_a_transient_error_with_the_reset_time(bluesky_channel, fake_bluesky):
    fake_bluesky.rate_limit_next(CREATE, reset_in=120)

    with pytest.raises(TransientError) as caught:
        publish(bluesky_channel, "Too fast")

    assert 100 <= caught.value.retry_after <= 121
    assert "limiting" in caught.value.message


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_it_turns_server_errors_into_transient_errors(bluesky_channel, fake_bluesky, status):
    fake_bluesky.fail_next(CREATE, status)

    with pytest.raises(TransientError):
        publish(bluesky_channel, "Server trouble")


def test_it_turns_a_timeout_into_a_transient_error_and_the_retry_finds_the_post(
    bluesky_channel, fake_bluesky, settings
):
    settings.NETWORK_TIMEOUT = 0.5
    delivery = Delivery("Slow server")
    fake_bluesky.hang_next(CREATE, 1.5)

    with pytest.raises(TransientError):
        bluesky_channel.adapter().publish_part(delivery.request())
    time.sleep(1.2)  # the slow request finishes on the server
    retry(bluesky_channel, delivery)

    assert len(fake_bluesky.posts()) == 1


def test_it_recovers_from_a_single_unauthorized_answer(bluesky_channel, fake_bluesky):
    fake_bluesky.fail_next(CREATE, 401, error="InvalidToken", message="Token could not be verified")

    publish(bluesky_channel, "Recovered")

    assert len(fake_bluesky.posts()) == 1
    assert fake_bluesky.refreshes == 1


def test_it_reports_authorization_lost_when_the_pds_keeps_refusing(bluesky_channel, fake_bluesky):
    fake_bluesky.fail_next(CREATE, 401, error="AuthRequired", message="Not allowed", times=2)

    with pytest.raises(AuthorizationLost) as caught:
        publish(bluesky_channel, "Refused")

    assert "reconnect" in caught.value.message


def test_it_turns_an_invalid_record_into_content_rejected(bluesky_channel, fake_bluesky):
    fake_bluesky.fail_next(
        CREATE,
        400,
        error="InvalidRecord",
        message="Invalid app.bsky.feed.post record: Record/langs is invalid",
    )

    with pytest.raises(ContentRejected) as caught:
        publish(bluesky_channel, "Bad record")

    assert (
        caught.value.message
        == "Bluesky rejected the post: Invalid app.bsky.feed.post record: Record/langs is invalid."
    )


# --- metrics and verify ------------------------------------------------------------------------


def test_it_fetches_metrics_in_batches_of_25(bluesky_channel, fake_bluesky):
    adapter = bluesky_channel.adapter()
    refs = [adapter.publish_part(Delivery(f"Post {n}").request()) for n in range(30)]
    fake_bluesky.set_counts(refs[0].uri, likes=7, reposts=2, replies=3, quotes=1)
    fake_bluesky.set_counts(refs[29].uri, likes=1)

    metrics = adapter.fetch_metrics(refs)

    assert len(fake_bluesky.calls("app.bsky.feed.getPosts")) == 2
    assert len(metrics) == 30
    first = metrics[refs[0].id]
    assert (first.likes, first.reposts, first.replies, first.quotes) == (7, 2, 3, 1)
    assert metrics[refs[29].id].likes == 1
    assert metrics[refs[5].id].likes == 0


def test_it_verifies_the_connection_and_returns_the_profile(bluesky_channel, fake_bluesky):
    account = bluesky_channel.adapter().verify()

    assert (account.remote_id, account.handle, account.display_name) == (ALICE_DID, ALICE, "Alice Example")
    assert account.server_url == fake_bluesky.url


def test_it_reads_the_limits_it_stored_at_connect_without_asking_the_pds(bluesky_channel, fake_bluesky):
    from channels import limits
    from channels.networks.images import MAX_SOURCE_PIXELS

    fake_bluesky.requests.clear()

    read = bluesky_channel.adapter().read_limits()

    assert read == {
        "max_graphemes": 300,
        "max_bytes": 3000,
        "max_images": 4,
        "max_image_pixels": MAX_SOURCE_PIXELS,
    }
    assert read == fresh(bluesky_channel).limits  # the shape connect stored
    assert limits.refresh(bluesky_channel) is False  # "Check connection" and the daily job: unchanged
    assert fake_bluesky.requests == []  # the lexicon's limits: nothing to ask


def test_it_keeps_secrets_out_of_logs_and_errors(bluesky_channel, fake_bluesky, caplog, tmp_path):
    from channels.networks.base import ConnectError

    caplog.set_level(logging.DEBUG)
    for name in ("httpx", "httpcore", "atproto", "channels"):
        caplog.set_level(logging.DEBUG, logger=name)
    session = bluesky_channel.get_credentials()["session"]
    fake_bluesky.expire_access_tokens()
    fake_bluesky.expire_refresh_tokens()  # exercise refresh and sign-in again
    publish(
        bluesky_channel,
        f"Secret-free {fake_bluesky.page_url('/pages/article')}",
        [media(image_file(tmp_path, "a.png"))],
    )
    with pytest.raises(ConnectError) as caught:
        connect(ALICE, "wrong-password-123", fake_bluesky.url)

    new_session = fresh(bluesky_channel).get_credentials()["session"]
    secrets = [APP_PASSWORD, "wrong-password-123", *session.split(":::")[2:4], *new_session.split(":::")[2:4]]
    assert caplog.records  # something was logged
    for secret in secrets:
        assert secret not in caplog.text
        assert secret not in caught.value.message
