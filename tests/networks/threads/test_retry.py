"""A retry through the publishing engine asks Threads once whether the part is already out."""

import pytest

from posts.models import Delivery
from tests.posts.engine import compose, dispatch_and_work, make_due

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def engine_settings(settings, redis_conn):
    settings.PUBLISH_RETRY_BASE = 0.5
    settings.PUBLISH_MAX_ATTEMPTS = 3


def reads_during(fake, action) -> tuple[int, int]:
    """(reads of container records, reads of the account's post lists) the action made."""
    before = len(fake.requests)
    action()
    made = fake.requests[before:]
    containers = {c for c in fake.containers if not fake.containers[c]["carousel_item"]}
    records = [r for r in made if r.method == "GET" and r.path.strip("/") in containers]
    lists = [r for r in made if r.method == "GET" and r.path.endswith(("/threads", "/replies"))]
    return len(records), len(lists)


def retry(delivery):
    make_due(delivery)
    dispatch_and_work()


def test_a_retry_after_a_lost_answer_reads_the_container_once(cast, threads_channel, fake_threads):
    post = compose(cast.alice, cast.workspace, [threads_channel], ["Are you out?"])
    delivery = post.deliveries.get()
    # The connection closes before Threads published anything: the engine cannot know.
    fake_threads.fail(path="threads_publish", method="POST", drop=True)
    dispatch_and_work()
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.SCHEDULED

    records, lists = reads_during(fake_threads, lambda: retry(delivery))

    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.PUBLISHED
    assert [p["text"] for p in fake_threads.posts] == ["Are you out?"]
    assert (records, lists) == (1, 0)


def test_a_retry_after_a_lost_publish_answer_finds_the_post_in_one_look(cast, threads_channel, fake_threads):
    post = compose(cast.alice, cast.workspace, [threads_channel], ["Out already"])
    delivery = post.deliveries.get()
    fake_threads.lose_response(path="threads_publish")  # published, but the answer never came
    dispatch_and_work()

    records, lists = reads_during(fake_threads, lambda: retry(delivery))

    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.PUBLISHED
    assert len(fake_threads.posts) == 1
    assert fake_threads.publish_calls == 1
    assert (records, lists) == (1, 1)
