"""How the Threads adapter words what goes wrong (against the fake Threads Graph server), and that it
never logs or raises its token."""

import logging

import pytest

from channels.networks.base import AuthorizationLost, ContentRejected, TransientError
from tests.networks.threads.parts import Part

pytestmark = pytest.mark.django_db


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
