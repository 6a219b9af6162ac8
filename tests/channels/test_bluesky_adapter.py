"""The Bluesky adapter against the fake PDS, with the real atproto client."""

import io
import logging
import threading
import time

import pytest
from atproto_client.models.string_formats import TID_RE
from PIL import Image

from channels.adapters import bluesky
from channels.adapters.base import (
    Account,
    AuthorizationLost,
    ContentRejected,
    MediaItem,
    PartContent,
    PartRequest,
    PostOptions,
    RemoteRef,
    TransientError,
)
from channels.adapters.bluesky import BlueskyAdapter, new_tid
from channels.models import Channel
from tests.fakes.bluesky import ALICE, ALICE_DID, APP_PASSWORD, BOB_DID

CREATE = "com.atproto.repo.createRecord"


class Delivery:
    """Stands in for a delivery part: keeps what the adapter checkpoints, as the caller persists it."""

    def __init__(self, text="", media=None, *, options=None, reply_to=None, root=None, index=0):
        self.part = PartContent(text=text, media=media or [])
        self.options = options or PostOptions(language="en")
        self.reply_to, self.root, self.index = reply_to, root, index
        self.state: dict = {}
        self.checkpoints: list[dict] = []

    def request(self) -> PartRequest:
        return PartRequest(
            key=f"delivery-1-part-{self.index}",
            index=self.index,
            part=self.part,
            options=self.options,
            reply_to=self.reply_to,
            root=self.root,
            state=dict(self.state),
            checkpoint=self._checkpoint,
        )

    def _checkpoint(self, state):
        self.checkpoints.append(dict(state))
        self.state = dict(state)


def publish(channel, text="", media=None, **kwargs) -> RemoteRef:
    return channel.adapter().publish_part(Delivery(text, media, **kwargs).request())


def image_file(tmp_path, name, size=(640, 480), mode="RGB", fmt="PNG", color=(200, 40, 40), **save) -> str:
    path = tmp_path / name
    Image.new(mode, size, color).save(path, fmt, **save)
    return str(path)


def media(path, mime="image/png", alt="A red square"):
    return MediaItem(path=path, mime_type=mime, alt_text=alt)


def fresh(channel) -> Channel:
    return Channel.objects.get(pk=channel.pk)


# --- text and facets ---------------------------------------------------------------------------


def test_it_publishes_text_with_facets_at_utf8_byte_offsets(bluesky_channel, fake_bluesky):
    link = "https://example.com/crème/brûlée?q=é"
    text = f"Café ☕ 👩‍👩‍👧 for @bob.test and #naïve friends: {link} 🎉 done"

    ref = publish(bluesky_channel, text, options=PostOptions(language="fr", link_card=False))

    [post] = fake_bluesky.posts()
    record = post["value"]
    assert record["text"] == text
    assert record["langs"] == ["fr"]
    encoded = text.encode()
    by_kind = {}
    for facet in record["facets"]:
        feature = facet["features"][0]
        by_kind[feature["$type"].rsplit("#", 1)[1]] = (
            feature,
            encoded[facet["index"]["byteStart"] : facet["index"]["byteEnd"]],
        )
    assert by_kind["link"] == ({"$type": "app.bsky.richtext.facet#link", "uri": link}, link.encode())
    assert by_kind["mention"][0]["did"] == BOB_DID
    assert by_kind["mention"][1] == b"@bob.test"
    assert by_kind["tag"][0]["tag"] == "naïve"
    assert by_kind["tag"][1] == "#naïve".encode()
    assert ref.uri == post["uri"] and ref.id == post["uri"] and ref.cid == post["cid"]
    assert ref.url == f"https://bsky.app/profile/{ALICE_DID}/post/{post['rkey']}"


def test_it_leaves_handles_that_do_not_resolve_as_plain_text(bluesky_channel, fake_bluesky):
    publish(bluesky_channel, "Thanks @nobody.test and @bob.test!")

    facets = fake_bluesky.posts()[0]["value"]["facets"]
    assert [f["features"][0].get("did") for f in facets] == [BOB_DID]


def test_it_omits_langs_when_the_post_has_no_language(bluesky_channel, fake_bluesky):
    publish(bluesky_channel, "No language", options=PostOptions(language=""))

    assert "langs" not in fake_bluesky.posts()[0]["value"]


# --- link cards --------------------------------------------------------------------------------


def test_it_attaches_a_link_card_with_title_description_and_thumbnail(bluesky_channel, fake_bluesky):
    url = fake_bluesky.page_url("/pages/article")

    publish(bluesky_channel, f"Read this: {url}")

    record = fake_bluesky.posts()[0]["value"]
    external = record["embed"]["external"]
    assert record["embed"]["$type"] == "app.bsky.embed.external"
    assert external["uri"] == url
    assert external["title"] == "Spring launch & news"
    assert external["description"] == "Everything about the spring launch."
    thumb = fake_bluesky.blob(external["thumb"])
    assert thumb["mime"] == "image/jpeg"
    assert thumb["size"] <= 1_000_000
    # The card does not make the link clickable: the link facet is still there.
    assert record["facets"][0]["features"][0]["uri"] == url


def test_it_uses_the_page_title_when_there_are_no_opengraph_tags(bluesky_channel, fake_bluesky):
    publish(bluesky_channel, f"See {fake_bluesky.page_url('/pages/plain')}")

    external = fake_bluesky.posts()[0]["value"]["embed"]["external"]
    assert external["title"] == "Just a title"
    assert "thumb" not in external


def test_it_posts_without_a_card_when_the_page_cannot_be_read(bluesky_channel, fake_bluesky, caplog):
    url = fake_bluesky.page_url("/pages/gone")

    publish(bluesky_channel, f"Broken {url}")

    record = fake_bluesky.posts()[0]["value"]
    assert "embed" not in record
    assert record["facets"][0]["features"][0]["uri"] == url
    assert "No link card" in caplog.text


def test_it_posts_the_card_without_a_thumbnail_when_the_image_is_broken(bluesky_channel, fake_bluesky):
    fake_bluesky.add_page("/pages/broken.jpg", b"not an image at all", "image/jpeg")
    fake_bluesky.add_page(
        "/pages/broken-image",
        b"<head><meta property='og:title' content='Broken image'><meta property='og:image' "
        b"content='/pages/broken.jpg'></head>",
        "text/html",
    )

    publish(bluesky_channel, f"Look {fake_bluesky.page_url('/pages/broken-image')}")

    external = fake_bluesky.posts()[0]["value"]["embed"]["external"]
    assert external["title"] == "Broken image"
    assert "thumb" not in external


def test_it_adds_no_card_when_link_cards_are_off(bluesky_channel, fake_bluesky):
    publish(
        bluesky_channel,
        f"Plain {fake_bluesky.page_url('/pages/article')}",
        options=PostOptions(link_card=False),
    )

    assert "embed" not in fake_bluesky.posts()[0]["value"]
    assert not fake_bluesky.blobs


def test_it_reads_previews_from_twitter_tags_with_relative_images_and_declared_charsets():
    from channels.adapters.linkcard import _charset, parse_preview

    html = (
        "<html><head><meta name='twitter:title' content='Caf&eacute; news'>"
        "<meta name='description' content='  Daily   news  '><meta name='twitter:image' content='img/a.png'>"
        "</head><body><meta property='og:title' content='Ignored: in the body'></body></html>"
    )

    preview = parse_preview("https://example.com/a/b", html, base_url="https://www.example.com/a/b")

    assert (preview.title, preview.description) == ("Café news", "Daily news")
    assert preview.image_url == "https://www.example.com/a/img/a.png"
    assert _charset(b"<meta charset='iso-8859-1'>") == "iso-8859-1"
    assert _charset(b"<meta charset='no-such-charset'>") == "utf-8"
    assert parse_preview("https://example.com", "<p>No head</p>") is None


# --- images ------------------------------------------------------------------------------------


def test_it_uploads_images_with_alt_text_and_aspect_ratio(bluesky_channel, fake_bluesky, tmp_path):
    wide = image_file(tmp_path, "wide.png", (640, 480))
    tall = image_file(tmp_path, "tall.jpg", (300, 600), fmt="JPEG")
    url = fake_bluesky.page_url("/pages/article")

    publish(
        bluesky_channel,
        f"Two pictures {url}",
        [media(wide, alt="A wide red square"), media(tall, "image/jpeg", alt="A tall one")],
    )

    embed = fake_bluesky.posts()[0]["value"]["embed"]
    assert embed["$type"] == "app.bsky.embed.images"  # images win over the link card
    assert [i["alt"] for i in embed["images"]] == ["A wide red square", "A tall one"]
    assert [(i["aspectRatio"]["width"], i["aspectRatio"]["height"]) for i in embed["images"]] == [
        (640, 480),
        (300, 600),
    ]
    assert [fake_bluesky.blob(i["image"])["mime"] for i in embed["images"]] == ["image/png", "image/jpeg"]


def test_it_sends_an_empty_alt_when_the_image_has_none(bluesky_channel, fake_bluesky, tmp_path):
    publish(bluesky_channel, "", [media(image_file(tmp_path, "a.png"), alt="")])

    assert fake_bluesky.posts()[0]["value"]["embed"]["images"][0]["alt"] == ""


def _noisy(size, sigma) -> Image.Image:
    base = Image.linear_gradient("L").resize(size)
    return Image.merge(
        "RGB", (base, Image.effect_noise(size, sigma), base.transpose(Image.Transpose.ROTATE_90))
    )


def test_it_reencodes_a_large_image_by_quality_and_keeps_its_dimensions(
    bluesky_channel, fake_bluesky, tmp_path
):
    path = tmp_path / "big.jpg"
    _noisy((3000, 3000), 8).save(path, "JPEG", quality=98)
    assert path.stat().st_size > 1_000_000

    publish(bluesky_channel, "Big photo", [media(str(path), "image/jpeg")])

    image = fake_bluesky.posts()[0]["value"]["embed"]["images"][0]
    blob = fake_bluesky.blob(image["image"])
    assert blob["size"] <= 1_000_000
    assert blob["mime"] == "image/jpeg"
    assert (image["aspectRatio"]["width"], image["aspectRatio"]["height"]) == (3000, 3000)
    assert Image.open(io.BytesIO(blob["data"])).size == (3000, 3000)


def test_it_shrinks_dimensions_in_steps_only_when_quality_is_not_enough(
    bluesky_channel, fake_bluesky, tmp_path
):
    path = tmp_path / "noise.png"
    Image.merge("RGB", [Image.effect_noise((2100, 1400), 100) for _ in range(3)]).save(path, "PNG")

    publish(bluesky_channel, "Pure noise", [media(str(path))])

    image = fake_bluesky.posts()[0]["value"]["embed"]["images"][0]
    blob = fake_bluesky.blob(image["image"])
    width, height = image["aspectRatio"]["width"], image["aspectRatio"]["height"]
    assert blob["size"] <= 1_000_000
    assert width < 2100 and abs(width / height - 1.5) < 0.01  # smaller, same shape
    assert any(abs(width - 2100 * 0.85**k) <= 1 for k in range(1, 10))  # a step of the 85% ladder


def test_it_keeps_a_transparent_png_as_png(bluesky_channel, fake_bluesky, tmp_path):
    path = image_file(tmp_path, "logo.png", (400, 200), mode="RGBA", color=(0, 0, 0, 0))

    publish(bluesky_channel, "Logo", [media(path)])

    blob = fake_bluesky.blob(fake_bluesky.posts()[0]["value"]["embed"]["images"][0]["image"])
    assert blob["mime"] == "image/png"
    assert Image.open(io.BytesIO(blob["data"])).mode in ("RGBA", "P", "LA")


def test_it_rejects_a_corrupt_image_before_posting(bluesky_channel, fake_bluesky, tmp_path):
    path = tmp_path / "broken.jpg"
    path.write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg")

    with pytest.raises(ContentRejected) as caught:
        publish(bluesky_channel, "Broken", [media(str(path), "image/jpeg")])

    assert caught.value.message == "The image could not be read: the file is damaged or not an image."
    assert not fake_bluesky.calls(CREATE)


def test_it_rejects_a_huge_image(bluesky_channel, fake_bluesky, tmp_path):
    path = image_file(tmp_path, "huge.png", (9000, 9000), mode="1", color=1)

    with pytest.raises(ContentRejected) as caught:
        publish(bluesky_channel, "Huge", [media(path)])

    assert "too large (9000x9000 pixels)" in caught.value.message
    assert not fake_bluesky.calls(CREATE)


def test_it_rejects_a_video_before_posting(bluesky_channel, fake_bluesky, tmp_path):
    path = tmp_path / "clip.mp4"
    path.write_bytes(b"\x00\x00\x00\x18ftypmp42")

    with pytest.raises(ContentRejected) as caught:
        publish(bluesky_channel, "Clip", [MediaItem(path=str(path), mime_type="video/mp4")])

    assert caught.value.message == "Videos cannot be posted to Bluesky yet."
    assert not fake_bluesky.calls("com.atproto.repo.uploadBlob")


def test_it_reports_an_image_the_pds_refuses_as_too_large(bluesky_channel, fake_bluesky, tmp_path):
    fake_bluesky.blob_limit = 100_000  # a PDS stricter than our setting
    path = tmp_path / "photo.jpg"
    _noisy((800, 800), 30).save(path, "JPEG", quality=95)

    with pytest.raises(ContentRejected) as caught:
        publish(bluesky_channel, "Photo", [media(str(path), "image/jpeg")])

    assert caught.value.message == "Bluesky refused an image as too large."
    assert not fake_bluesky.posts()


# --- threads -----------------------------------------------------------------------------------


def test_it_publishes_a_thread_in_order_with_root_and_parent_refs(bluesky_channel, fake_bluesky):
    adapter = bluesky_channel.adapter()
    first = adapter.publish_part(Delivery("1/3 Start", index=0).request())
    second = adapter.publish_part(Delivery("2/3 Middle", reply_to=first, root=first, index=1).request())
    third = adapter.publish_part(Delivery("3/3 End", reply_to=second, root=first, index=2).request())

    posts = fake_bluesky.posts()
    assert [p["value"]["text"] for p in posts] == ["1/3 Start", "2/3 Middle", "3/3 End"]
    assert "reply" not in posts[0]["value"]
    assert posts[1]["value"]["reply"]["root"] == {
        "$type": "com.atproto.repo.strongRef",
        "uri": first.uri,
        "cid": first.cid,
    }
    assert posts[1]["value"]["reply"]["parent"]["uri"] == first.uri
    assert posts[2]["value"]["reply"]["root"]["uri"] == first.uri
    assert posts[2]["value"]["reply"]["parent"] == {
        "$type": "com.atproto.repo.strongRef",
        "uri": second.uri,
        "cid": second.cid,
    }
    assert [p["rkey"] for p in posts] == sorted(p["rkey"] for p in posts)
    assert third.uri == posts[2]["uri"]


# --- exactly once ------------------------------------------------------------------------------


def test_it_creates_one_record_when_the_response_is_lost_and_the_part_retried(bluesky_channel, fake_bluesky):
    delivery = Delivery("Only once, please")
    fake_bluesky.lose_response_next(CREATE)

    with pytest.raises(TransientError):
        bluesky_channel.adapter().publish_part(delivery.request())
    [checkpoint] = delivery.checkpoints
    fake_bluesky.requests.clear()
    ref = fresh(bluesky_channel).adapter().publish_part(delivery.request())

    [post] = fake_bluesky.posts()
    assert post["rkey"] == checkpoint["rkey"]
    assert ref.uri == post["uri"] and ref.cid == post["cid"]
    assert [c.nsid for c in fake_bluesky.requests] == ["com.atproto.repo.getRecord"]


def test_it_creates_the_record_with_the_same_rkey_when_the_first_attempt_never_arrived(
    bluesky_channel, fake_bluesky
):
    delivery = Delivery("Second time lucky")
    fake_bluesky.fail_next(CREATE, 503, error="ServiceUnavailable", message="Try later")

    with pytest.raises(TransientError):
        bluesky_channel.adapter().publish_part(delivery.request())
    assert not fake_bluesky.posts()
    ref = bluesky_channel.adapter().publish_part(delivery.request())

    [post] = fake_bluesky.posts()
    assert post["rkey"] == delivery.checkpoints[0]["rkey"] == ref.uri.rsplit("/", 1)[1]
    assert len(fake_bluesky.calls("com.atproto.repo.getRecord")) == 1


def test_it_checkpoints_the_rkey_before_creating_the_record(bluesky_channel, fake_bluesky):
    seen = []
    delivery = Delivery("Checkpoint first")
    request = delivery.request()
    request.checkpoint = lambda state: seen.append((dict(state), len(fake_bluesky.calls(CREATE))))

    request_ref = bluesky_channel.adapter().publish_part(request)

    [(state, creates_before)] = seen
    assert creates_before == 0
    assert TID_RE.match(state["rkey"]) and request_ref.uri.endswith("/" + state["rkey"])


def test_it_finds_a_published_part_only_from_its_rkey(bluesky_channel, fake_bluesky):
    adapter = bluesky_channel.adapter()
    calls_before = len(fake_bluesky.requests)
    assert adapter.find_published(Delivery("Never sent").request()) is None
    assert len(fake_bluesky.requests) == calls_before  # nothing was ever sent, nothing to ask

    absent = Delivery("Lost before arriving")
    absent.state = {"rkey": new_tid()}
    assert adapter.find_published(absent.request()) is None

    sent = Delivery("Sent")
    ref = adapter.publish_part(sent.request())
    assert adapter.find_published(sent.request()) == ref


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
    from channels.adapters.bluesky import connect

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

    monkeypatch.setattr(bluesky, "LOCK_WAIT", 0.2)
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
    bluesky_channel.adapter().publish_part(delivery.request())

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


def test_it_rejects_text_over_the_limit_without_calling_bluesky(bluesky_channel, fake_bluesky):
    with pytest.raises(ContentRejected):
        publish(bluesky_channel, "x" * 301)

    assert not fake_bluesky.calls(CREATE)


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


# --- validate (offline) ------------------------------------------------------------------------


def validate(parts, options=None, limits=None):
    account = Account(
        network="bluesky",
        remote_id=ALICE_DID,
        handle=ALICE,
        server_url="",
        credentials={},
        limits=limits or {},
    )
    return BlueskyAdapter(account).validate(
        [p if isinstance(p, PartContent) else PartContent(p) for p in parts], options or PostOptions()
    )


def test_it_accepts_300_graphemes_even_when_they_are_more_code_points():
    text = "👍🏽" * 300  # 300 graphemes, 600 code points, 2400 bytes

    result = validate([text])

    assert result.ok
    assert (result.usage[0].used, result.usage[0].limit, result.usage[0].unit) == (300, 300, "graphemes")


def test_it_rejects_301_graphemes():
    result = validate(["é" * 301])

    assert not result.ok
    assert result.errors[0].message == "Bluesky allows 300 characters; this part has 301."


def test_it_rejects_text_over_3000_bytes_even_under_300_graphemes():
    family = "👨‍👩‍👧‍👦"  # one grapheme, 25 bytes
    assert validate([family * 120]).ok  # 3000 bytes

    result = validate([family * 121])

    assert result.usage[0].used == 121
    assert "3025 of 3000 bytes" in result.errors[0].message


def test_it_uses_the_channels_cached_limits():
    assert not validate(["x" * 101], limits={"max_graphemes": 100}).ok


def test_it_checks_images_video_and_alt_text():
    images = [MediaItem(path="/x.png", mime_type="image/png", alt_text="alt") for _ in range(5)]
    five = validate([PartContent("Five", images)])
    video = validate([PartContent("Video", [MediaItem(path="/x.mp4", mime_type="video/mp4")])])
    pdf = validate([PartContent("PDF", [MediaItem(path="/x.pdf", mime_type="application/pdf")])])
    no_alt = validate([PartContent("No alt", [MediaItem(path="/x.png", mime_type="image/png")])])

    assert [p.message for p in five.errors] == ["Bluesky allows 4 images per post; this part has 5."]
    assert "Videos cannot be posted to Bluesky yet" in video.errors[0].message
    assert pdf.errors[0].message == "Bluesky accepts JPEG, PNG, WebP and GIF images only."
    assert no_alt.ok and no_alt.warnings[0].field == "media"
    assert "alt text" in no_alt.warnings[0].message


def test_it_warns_that_images_replace_the_link_card():
    image = MediaItem(path="/x.png", mime_type="image/png", alt_text="alt")

    result = validate([PartContent("See https://example.com", [image])], PostOptions(link_card=True))

    assert result.ok
    assert result.warnings[0].message.startswith("Bluesky shows either images or a link preview")


def test_it_rejects_an_empty_part_and_a_bad_language():
    result = validate(["", "fine"], PostOptions(language="english please"))

    assert {(p.part, p.field) for p in result.errors} == {(0, "text"), (None, "options")}


def test_it_validates_every_part_of_a_thread():
    result = validate(["ok", "x" * 301, "ok"])

    assert [p.part for p in result.errors] == [1]
    assert len(result.usage) == 3


# --- record keys and secrets -------------------------------------------------------------------


def test_it_generates_sortable_tids_the_sdk_accepts():
    tids = [new_tid() for _ in range(2000)]

    assert all(TID_RE.match(tid) for tid in tids)
    assert tids == sorted(tids) and len(set(tids)) == len(tids)
    alphabet = "234567abcdefghijklmnopqrstuvwxyz"
    value = 0
    for char in tids[0]:
        value = value * 32 + alphabet.index(char)
    assert abs((value >> 10) / 1_000_000 - time.time()) < 5


def test_it_keeps_secrets_out_of_logs_and_errors(bluesky_channel, fake_bluesky, caplog, tmp_path):
    from channels.adapters.base import ConnectError
    from channels.adapters.bluesky import connect

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
