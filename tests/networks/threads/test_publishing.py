"""Publishing through the Threads adapter against the fake Threads Graph server (fake.py): containers,
carousels, threads of replies, waiting, Media Not Found, and what a retry finds already published."""

import pytest

from channels.networks.base import ContentRejected, OutcomeUnknown, PostOptions, RemoteRef, TransientError
from tests.networks.threads.parts import Part, image

pytestmark = pytest.mark.django_db


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


def test_it_goes_on_from_the_status_find_published_read_for_the_same_request(adapter, fake_threads):
    fake_threads.next_container(stuck=True)
    part = Part("Resumed once")
    with pytest.raises(TransientError):
        adapter.publish_part(part.request())
    container = part.state["container_id"]
    fake_threads.finish(container)
    request = part.request()
    before = len(fake_threads.calls("GET", container))

    assert adapter.find_published(request) is None
    adapter.publish_part(request)

    assert len(fake_threads.calls("GET", container)) == before + 1  # find_published's look only
    assert [p["text"] for p in fake_threads.posts] == ["Resumed once"]


def test_it_asks_again_about_a_container_seen_for_another_request(adapter, fake_threads):
    fake_threads.next_container(stuck=True)
    part = Part("Seen earlier")
    with pytest.raises(TransientError):
        adapter.publish_part(part.request())
    first = part.state["container_id"]
    assert adapter.find_published(part.request()) is None  # the sweeper's look: still IN_PROGRESS
    fake_threads.expire(first)

    adapter.publish_part(part.request())

    assert fake_threads.posts[0]["container_id"] not in ("", first)
    assert len(fake_threads.container_creations()) == 2


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
