"""The Threads adapter against the fake Threads Graph server (tests/fakes/threads.py)."""

import logging

import pytest

from channels.adapters.base import (
    AuthorizationLost,
    ContentRejected,
    MediaItem,
    OutcomeUnknown,
    PartContent,
    PartRequest,
    PostOptions,
    RemoteRef,
    TransientError,
)
from channels.adapters.threads import NO_PUBLIC_ADDRESS

pytestmark = pytest.mark.django_db


class Part:
    """A PartRequest whose checkpoints are kept, as the engine would persist them."""

    def __init__(self, text="Hello Threads", media=(), options=None, reply_to=None, index=0):
        self.state = {}
        self.checkpoints = []
        self.text, self.media, self.index = text, list(media), index
        self.options = options or PostOptions()
        self.reply_to = reply_to

    def request(self) -> PartRequest:
        def checkpoint(state):
            self.checkpoints.append(dict(state))
            self.state = dict(state)

        return PartRequest(
            key=f"delivery-1:{self.index}",
            index=self.index,
            part=PartContent(self.text, self.media),
            options=self.options,
            reply_to=self.reply_to,
            state=dict(self.state),
            checkpoint=checkpoint,
        )


def image(name="cat.jpg", alt="A cat asleep on a keyboard", url=None, mime="image/jpeg", size=200_000):
    return MediaItem(
        path=f"/tmp/{name}",
        mime_type=mime,
        alt_text=alt,
        size=size,
        public_url=url if url is not None else f"https://media.example.org/signed/{name}?sig=abc",
    )


@pytest.fixture
def adapter(threads_channel):
    return threads_channel.adapter()


# --- publishing ------------------------------------------------------------------------------------


def test_it_publishes_a_text_post(adapter, fake_threads):
    ref = adapter.publish_part(Part("Launch day! Our new app is out.").request())

    assert len(fake_threads.posts) == 1
    post = fake_threads.posts[0]
    assert post["text"] == "Launch day! Our new app is out."
    assert post["media_type"] == "TEXT_POST"
    assert ref.id == post["id"]
    assert ref.url == post["permalink"]


def test_it_publishes_text_with_a_link_attachment_and_a_topic_tag(adapter, fake_threads):
    options = PostOptions(link_attachment="https://acme.example/blog/launch", topic_tag="Product Launch")
    adapter.publish_part(Part("Read the story behind it", options=options).request())

    post = fake_threads.posts[0]
    assert post["link_attachment"] == "https://acme.example/blog/launch"
    assert post["topic_tag"] == "Product Launch"


def test_it_publishes_an_image_with_alt_text(adapter, fake_threads):
    adapter.publish_part(Part("Meet Whiskers", media=[image()]).request())

    post = fake_threads.posts[0]
    assert post["media_type"] == "IMAGE"
    assert post["image_url"] == "https://media.example.org/signed/cat.jpg?sig=abc"
    assert post["alt_text"] == "A cat asleep on a keyboard"
    assert post["text"] == "Meet Whiskers"


def test_it_publishes_a_video(adapter, fake_threads):
    video = image("clip.mp4", alt="Our team waving", mime="video/mp4")
    adapter.publish_part(Part("Hello from the team", media=[video]).request())

    post = fake_threads.posts[0]
    assert post["media_type"] == "VIDEO"
    assert post["video_url"].endswith("clip.mp4?sig=abc")
    assert post["alt_text"] == "Our team waving"


def test_it_publishes_a_carousel_of_three(adapter, fake_threads):
    media = [image(f"photo{i}.png", alt=f"Photo {i}", mime="image/png") for i in range(1, 4)]
    part = Part("Three views of the office", media=media)
    ref = adapter.publish_part(part.request())

    assert len(fake_threads.posts) == 1
    post = fake_threads.posts[0]
    assert post["media_type"] == "CAROUSEL_ALBUM"
    assert post["text"] == "Three views of the office"
    assert [c["alt_text"] for c in post["children"]] == ["Photo 1", "Photo 2", "Photo 3"]
    assert all(c["is_carousel_item"] == "true" for c in post["children"])
    assert [c["image_url"].split("?")[0].rsplit("/", 1)[1] for c in post["children"]] == [
        "photo1.png",
        "photo2.png",
        "photo3.png",
    ]
    # Every child was checkpointed as it was created, then the parent.
    assert len(part.checkpoints[2]["children"]) == 3
    assert part.state["container_id"] and part.state["media_id"] == ref.id


def test_it_reuses_carousel_children_when_the_parent_failed(adapter, fake_threads):
    # Three children go through, the parent's creation fails; the retry must not upload them again.
    fake_threads.fail("/threads", method="POST", skip=3, status=500, code=2)
    part = Part("Retry me", media=[image(f"p{i}.jpg", alt=f"Pic {i}") for i in range(3)])

    with pytest.raises(TransientError):
        adapter.publish_part(part.request())
    children = part.state["children"]
    adapter.publish_part(part.request())

    assert len(fake_threads.posts) == 1
    assert [c["alt_text"] for c in fake_threads.posts[0]["children"]] == ["Pic 0", "Pic 1", "Pic 2"]
    assert sum(1 for c in fake_threads.containers.values() if c["carousel_item"]) == 3
    assert fake_threads.containers[part.state["container_id"]]["children"] == children


def test_it_publishes_a_three_part_thread_as_a_reply_chain_in_order(adapter, fake_threads):
    options = PostOptions(topic_tag="Gardening")
    texts = ["1/3 How we grow tomatoes", "2/3 Start indoors in March", "3/3 Plant out after the frosts"]
    refs: list[RemoteRef] = []
    for index, text in enumerate(texts):
        reply_to = refs[-1] if refs else None
        refs.append(
            adapter.publish_part(Part(text, options=options, reply_to=reply_to, index=index).request())
        )

    posts = fake_threads.posts
    assert [p["text"] for p in posts] == texts
    assert posts[0]["reply_to_id"] == ""
    assert posts[1]["reply_to_id"] == posts[0]["id"] == refs[0].id
    assert posts[2]["reply_to_id"] == posts[1]["id"] == refs[1].id
    assert [p["topic_tag"] for p in posts] == ["Gardening", "", ""]


def test_it_waits_for_a_container_that_takes_a_few_polls(adapter, fake_threads):
    fake_threads.next_container(finish_after=3)

    adapter.publish_part(Part("Patience").request())

    assert fake_threads.posts[0]["text"] == "Patience"
    assert len(fake_threads.calls("GET", fake_threads.posts[0]["container_id"])) >= 4


def test_it_gives_up_on_a_stuck_container_for_now_and_the_retry_reuses_it(adapter, fake_threads):
    fake_threads.next_container(stuck=True)
    part = Part("Big video", media=[image("big.mp4", mime="video/mp4")])

    with pytest.raises(TransientError) as caught:
        adapter.publish_part(part.request())
    assert caught.value.retry_after == 30
    assert fake_threads.posts == []
    container_id = part.state["container_id"]

    fake_threads.finish(container_id)
    ref = adapter.publish_part(part.request())

    assert len(fake_threads.container_creations()) == 1
    assert fake_threads.publish_calls == 1
    assert fake_threads.posts[0]["container_id"] == container_id
    assert ref.id == fake_threads.posts[0]["id"]


def test_it_translates_a_container_error_into_a_sentence(adapter, fake_threads):
    fake_threads.next_container(error="FAILED_PROCESSING_VIDEO")

    with pytest.raises(ContentRejected) as caught:
        adapter.publish_part(Part("Clip", media=[image("clip.mov", mime="video/quicktime")]).request())

    assert caught.value.message.startswith("Threads could not process the video.")
    assert "FAILED" not in caught.value.message
    assert fake_threads.publish_calls == 0


def test_it_translates_an_unknown_container_error(adapter, fake_threads):
    fake_threads.next_container(error="UNKNOWN")

    with pytest.raises(ContentRejected) as caught:
        adapter.publish_part(Part("Pic", media=[image()]).request())

    assert "gave no reason" in caught.value.message


def test_it_explains_when_threads_cannot_download_the_media(adapter, fake_threads):
    fake_threads.fetch_media = True  # the fake fetches image_url as Meta would; nothing listens there

    with pytest.raises(ContentRejected) as caught:
        adapter.publish_part(Part("Pic", media=[image(url="http://127.0.0.1:9/cat.jpg")]).request())

    assert caught.value.message.startswith("Threads could not download the media from this installation.")
    assert fake_threads.posts == []


def test_it_publishes_after_media_not_found(adapter, fake_threads):
    fake_threads.media_not_found(times=2)

    ref = adapter.publish_part(Part("Third time lucky").request())

    assert fake_threads.publish_calls == 3
    assert len(fake_threads.posts) == 1
    assert ref.id == fake_threads.posts[0]["id"]
    assert len(fake_threads.container_creations()) == 1


def test_it_recreates_the_container_when_media_not_found_persists(adapter, fake_threads):
    fake_threads.media_not_found(times=3)
    part = Part("Persistent")

    adapter.publish_part(part.request())

    assert len(fake_threads.container_creations()) == 2
    assert len(fake_threads.posts) == 1
    assert fake_threads.posts[0]["container_id"] == part.state["container_id"]


def test_it_publishes_exactly_once_when_the_publish_answer_is_lost(adapter, fake_threads):
    fake_threads.lose_response("threads_publish")
    part = Part("Only once, please")

    with pytest.raises(TransientError):
        adapter.publish_part(part.request())
    assert len(fake_threads.posts) == 1  # Threads did publish it

    ref = adapter.publish_part(part.request())

    assert len(fake_threads.posts) == 1
    assert fake_threads.publish_calls == 1
    assert ref.id == fake_threads.posts[0]["id"]
    assert ref.url == fake_threads.posts[0]["permalink"]


def test_it_finds_a_lost_reply_by_its_parent(adapter, fake_threads):
    root = adapter.publish_part(Part("Root").request())
    fake_threads.lose_response("threads_publish")
    part = Part("More", reply_to=root, index=1)

    with pytest.raises(TransientError):
        adapter.publish_part(part.request())
    ref = adapter.publish_part(part.request())

    assert [p["text"] for p in fake_threads.posts] == ["Root", "More"]
    assert ref.id == fake_threads.posts[1]["id"]


def test_it_says_so_when_a_published_container_cannot_be_matched(adapter, fake_threads):
    fake_threads.lose_response("threads_publish")
    part = Part("Edited later")
    with pytest.raises(TransientError):
        adapter.publish_part(part.request())
    fake_threads.posts[0]["text"] = "Something else"

    with pytest.raises(OutcomeUnknown):
        adapter.publish_part(part.request())
    assert fake_threads.publish_calls == 1


def test_it_publishes_a_stored_container_that_finished_meanwhile(adapter, fake_threads):
    fake_threads.next_container(stuck=True)
    part = Part("Resumed")
    with pytest.raises(TransientError):
        adapter.publish_part(part.request())
    fake_threads.finish(part.state["container_id"])

    adapter.publish_part(part.request())

    assert [p["text"] for p in fake_threads.posts] == ["Resumed"]
    assert len(fake_threads.container_creations()) == 1


def test_it_makes_a_new_container_when_the_stored_one_expired(adapter, fake_threads):
    fake_threads.next_container(stuck=True)
    part = Part("Late")
    with pytest.raises(TransientError):
        adapter.publish_part(part.request())
    first = part.state["container_id"]
    fake_threads.expire(first)

    adapter.publish_part(part.request())

    assert len(fake_threads.container_creations()) == 2
    assert fake_threads.posts[0]["container_id"] != first
    assert fake_threads.posts[0]["container_id"] == part.state["container_id"]


def test_it_returns_the_checkpointed_media_without_publishing_again(adapter, fake_threads):
    part = Part("Done before")
    ref = adapter.publish_part(part.request())

    again = adapter.publish_part(part.request())

    assert again.id == ref.id
    assert fake_threads.publish_calls == 1


def test_it_finds_published_parts_for_the_sweeper(adapter, fake_threads):
    assert adapter.find_published(Part("Never tried").request()) is None

    fake_threads.next_container(stuck=True)
    waiting = Part("Waiting")
    with pytest.raises(TransientError):
        adapter.publish_part(waiting.request())
    assert adapter.find_published(waiting.request()) is None

    fake_threads.lose_response("threads_publish")
    lost = Part("Lost answer")
    with pytest.raises(TransientError):
        adapter.publish_part(lost.request())
    found = adapter.find_published(lost.request())
    assert found.id == fake_threads.posts[0]["id"]
    assert found.url == fake_threads.posts[0]["permalink"]


def test_it_rejects_what_the_server_rejects_in_plain_words(adapter, fake_threads):
    links = " ".join(f"https://site{i}.example" for i in range(6))

    with pytest.raises(ContentRejected) as too_many:
        adapter.publish_part(Part(links).request())
    with pytest.raises(ContentRejected) as too_long:
        adapter.publish_part(Part("x" * 501).request())

    assert (
        too_many.value.message == "Threads allows at most 5 links in a post. Remove some links and try again."
    )
    assert too_long.value.message == "Threads refused it: Param text must be at most 500 characters long."
    assert fake_threads.posts == []


# --- error kinds -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("failure", "kind", "retry_after"),
    [
        ({"status": 500, "code": 2}, TransientError, None),
        ({"status": 503, "code": None}, TransientError, None),
        ({"status": 400, "code": 1}, TransientError, None),
        ({"status": 400, "code": 4}, TransientError, 300),
        ({"status": 400, "code": 17}, TransientError, 300),
        ({"status": 400, "code": 32}, TransientError, 300),
        ({"status": 400, "code": 613}, TransientError, 300),
        ({"status": 429, "code": 4, "headers": {"Retry-After": "120"}}, TransientError, 120),
        (
            {
                "status": 400,
                "code": 17,
                "headers": {"X-Business-Use-Case-Usage": '{"1": [{"estimated_time_to_regain_access": 7}]}'},
            },
            TransientError,
            420,
        ),
        ({"status": 400, "code": 368}, TransientError, 3600),
        ({"status": 400, "code": 190, "subcode": 463}, AuthorizationLost, None),
        ({"status": 403, "code": 10}, AuthorizationLost, None),
        ({"status": 403, "code": 200}, AuthorizationLost, None),
        ({"status": 400, "code": 506}, ContentRejected, None),
        ({"status": 400, "code": 100, "user_msg": "The image is too small."}, ContentRejected, None),
        ({"drop": True}, TransientError, None),
    ],
)
def test_it_maps_each_error_to_its_kind(adapter, fake_threads, failure, kind, retry_after):
    fake_threads.fail("threads", method="POST", **failure)

    with pytest.raises(kind) as caught:
        adapter.publish_part(Part("Hello").request())

    assert type(caught.value) is kind
    assert caught.value.message and "{" not in caught.value.message
    if kind is TransientError:
        assert caught.value.retry_after == retry_after
    assert fake_threads.posts == []


def test_it_words_the_common_errors_for_people(adapter, fake_threads):
    fake_threads.fail("threads", method="POST", status=400, code=506)
    with pytest.raises(ContentRejected) as duplicate:
        adapter.publish_part(Part("Again").request())
    fake_threads.fail("threads", method="POST", status=400, code=100, user_msg="The image is too small.")
    with pytest.raises(ContentRejected) as refused:
        adapter.publish_part(Part("Small").request())
    fake_threads.revoke(adapter.account.credentials["access_token"])
    with pytest.raises(AuthorizationLost) as lost:
        adapter.publish_part(Part("Anyone?").request())

    assert duplicate.value.message == "Threads refused the post because it duplicates a recent post."
    assert refused.value.message == "Threads refused it: The image is too small."
    assert "Reconnect the channel" in lost.value.message


def test_it_times_out_as_a_transient_error(adapter, fake_threads):
    adapter.client.timeout = 0.2
    fake_threads.latency = 0.5

    with pytest.raises(TransientError) as caught:
        adapter.publish_part(Part("Slow").request())

    assert caught.value.message == "Threads did not answer in time."


def test_it_holds_a_post_when_the_daily_quota_is_used_up(adapter, fake_threads):
    fake_threads.quota_used = 250

    with pytest.raises(TransientError) as caught:
        adapter.publish_part(Part("One too many").request())

    assert caught.value.retry_after == 3600
    assert "250 posts" in caught.value.message
    assert fake_threads.container_creations() == []


def test_it_reads_the_publishing_quota(adapter, fake_threads):
    fake_threads.quota_used = 10
    adapter.publish_part(Part("One more").request())

    assert adapter.publishing_quota() == (11, 250)


# --- metrics, profile ------------------------------------------------------------------------------


def test_it_reads_metrics(adapter, fake_threads):
    first = adapter.publish_part(Part("Popular").request())
    second = adapter.publish_part(Part("Quiet").request())
    fake_threads.set_insights(first.id, views=1200, likes=87, replies=9, reposts=4, quotes=2)

    metrics = adapter.fetch_metrics([first, second, RemoteRef(id="999")])

    assert metrics[first.id].likes == 87
    assert metrics[first.id].views == 1200
    assert (metrics[first.id].replies, metrics[first.id].reposts, metrics[first.id].quotes) == (9, 4, 2)
    assert metrics[second.id].likes == 0
    assert "999" not in metrics  # deleted or unknown posts are left out, the others still count


def test_it_verifies_the_connection(adapter, fake_threads):
    account = adapter.verify()

    assert account.handle == "@acme.threads"
    assert account.remote_id == fake_threads.default_user
    assert account.avatar_url.endswith("acme.threads.jpg")


# --- validation (offline) --------------------------------------------------------------------------


def test_it_refuses_over_500_characters_and_more_than_5_links_before_scheduling(adapter, fake_threads):
    links = " ".join(f"https://site{i}.example/page" for i in range(5))
    fake_threads.requests.clear()

    result = adapter.validate(
        [PartContent(links), PartContent("a" * 501), PartContent("ok")],
        PostOptions(link_attachment="https://another.example"),  # the sixth link of the first part
    )

    assert not result.ok
    assert [p.part for p in result.errors] == [0, 1]
    assert "at most 5 different links in a post; this part has 6" in result.errors[0].message
    assert "500 characters; this part has 501" in result.errors[1].message
    assert [u.used for u in result.usage] == [len(links), 501, 2]
    assert fake_threads.requests == []  # validate() never calls the network


def test_it_counts_the_same_link_once_and_the_link_attachment_on_the_first_part(adapter):
    # Three distinct links: acme.example/a (twice, once before a comma), acme.example/b, c.example.
    text = "https://acme.example/a and https://acme.example/a, www.acme.example/b http://c.example/"

    def ok(more, attachment=""):
        return adapter.validate([PartContent(text + more)], PostOptions(link_attachment=attachment)).ok

    assert ok(" https://x.example https://y.example")
    assert not ok(" https://x.example https://y.example https://z.example")
    assert not ok(" https://x.example https://y.example", attachment="https://z.example")
    assert ok(" https://x.example https://y.example", attachment="https://acme.example/a")


def test_it_counts_emoji_and_accents_as_threads_does(adapter):
    result = adapter.validate([PartContent("é" * 250), PartContent("🎉" * 126)], PostOptions())

    assert [u.used for u in result.usage] == [500, 504]
    assert [p.part for p in result.errors] == [1]
    assert "emoji count as 2 to 4" in result.errors[0].message


def test_it_explains_that_media_need_a_public_address(adapter, settings):
    settings.THREADS_MEDIA_REQUIRE_PUBLIC_URL = True
    settings.SITE_URL = "http://localhost:8000"
    local = image(url="http://localhost:8000/media/signed/cat.jpg")

    result = adapter.validate([PartContent("Pic", [local])], PostOptions())
    assert [p.message for p in result.errors] == [NO_PUBLIC_ADDRESS]
    assert result.errors[0].field == "media"
    # The composer validates before real media addresses exist, with a placeholder.
    placeholder = adapter.validate(
        [PartContent("Pic", [image(url="https://public.invalid/")])], PostOptions()
    )
    assert [p.message for p in placeholder.errors] == [NO_PUBLIC_ADDRESS]

    settings.SITE_URL = "https://scheduler.acme.org"
    assert adapter.validate([PartContent("Pic", [image()])], PostOptions()).ok
    missing = adapter.validate([PartContent("Pic", [image(url="")])], PostOptions())
    assert "no public address" in missing.errors[0].message

    settings.SITE_URL = "http://192.168.1.20:8000"
    assert not adapter.validate(
        [PartContent("Pic", [image(url="http://192.168.1.20/m.jpg")])], PostOptions()
    ).ok
    # Media on public object storage work even when the site itself is private.
    assert adapter.validate([PartContent("Pic", [image()])], PostOptions()).ok


def test_it_checks_media_types_sizes_and_counts(adapter):
    gif = image("anim.gif", mime="image/gif")
    huge = image("huge.jpg", size=9 * 1024 * 1024)
    many = [image(f"p{i}.jpg") for i in range(21)]

    result = adapter.validate(
        [PartContent("a", [gif]), PartContent("b", [huge]), PartContent("c", many)], PostOptions()
    )

    messages = [(p.part, p.message) for p in result.errors]
    assert (0, "Threads accepts JPEG and PNG images and MP4 or MOV videos only.") in messages
    assert (1, "This image is larger than Threads accepts (8 MB).") in messages
    assert (2, "Threads allows at most 20 images or videos in a post; this part has 21.") in messages


def test_it_warns_about_missing_alt_text(adapter):
    result = adapter.validate([PartContent("Pic", [image(alt="")])], PostOptions())

    assert result.ok
    assert [w.field for w in result.warnings] == ["media"]
    assert "no alt text" in result.warnings[0].message


def test_it_checks_the_topic_tag(adapter):
    def errors(tag):
        return [p.message for p in adapter.validate([PartContent("x")], PostOptions(topic_tag=tag)).errors]

    assert errors("Gardening Tips") == []
    assert errors("Node.js") == ["A Threads topic cannot contain periods (.) or ampersands (&)."]
    assert errors("Rock & Roll") == ["A Threads topic cannot contain periods (.) or ampersands (&)."]
    assert errors("x" * 51) == ["A Threads topic can have at most 50 characters."]


def test_it_needs_text_or_media(adapter):
    result = adapter.validate([PartContent("   ")], PostOptions())

    assert [p.message for p in result.errors] == ["A Threads post needs text or at least one image or video."]


# --- secrets ---------------------------------------------------------------------------------------


def test_it_never_logs_or_raises_the_token(adapter, fake_threads, caplog, settings):
    caplog.set_level(logging.DEBUG)
    token = adapter.account.credentials["access_token"]
    raised = []

    fake_threads.lose_response("threads_publish")
    part = Part("Secret-free logs")
    for _attempt in range(2):
        try:
            adapter.publish_part(part.request())
        except TransientError as exc:
            raised.append(exc)
    fake_threads.fail("threads", method="POST", drop=True)
    fake_threads.fail("threads", method="POST", status=500, code=2)
    fake_threads.throttle(retry_after=5)
    for attempt in range(3):
        with pytest.raises(TransientError) as caught:
            adapter.publish_part(Part(f"Failing {attempt}").request())
        raised.append(caught.value)
    adapter.client.timeout = 0.1
    fake_threads.latency = 0.3
    with pytest.raises(TransientError) as slow:
        adapter.refresh_credentials()
    raised.append(slow.value)
    fake_threads.latency = 0
    fake_threads.revoke(token)
    with pytest.raises(AuthorizationLost) as lost:
        adapter.refresh_credentials()
    raised.append(lost.value)

    assert len(fake_threads.posts) == 1
    assert caplog.records  # the failures were logged...
    assert token not in caplog.text  # ...without the token
    for exc in raised:
        assert token not in str(exc) and token not in repr(exc.args)
        assert exc.__cause__ is None and (exc.__context__ is None or exc.__suppress_context__)
