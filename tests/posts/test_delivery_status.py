"""A delivery's live status: it polls while the delivery is going out, and stops once it is settled."""

from datetime import timedelta

import pytest
from django.utils.timezone import now

from posts.models import Delivery
from tests.posts.engine import compose, dispatch_and_work
from tests.posts.review import S, build_posts, url


@pytest.mark.django_db(transaction=True)
def test_the_delivery_status_polls_while_going_out_and_stops_when_published(
    client, cast, redis_conn, mastodon_channel, fake_mastodon
):
    delivery = compose(cast.alice, cast.workspace, [mastodon_channel], ["Live"]).deliveries.get()
    client.force_login(cast.victor)
    status_url = url("posts:delivery-status", code=delivery.code)
    htmx = {"HX-Request": "true"}

    response = client.get(status_url, headers=htmx)
    assert response.status_code == 200
    assert 'hx-trigger="every 3s"' in response.content.decode()
    Delivery.objects.filter(pk=delivery.pk).update(status=S.PUBLISHING)
    response = client.get(status_url, headers=htmx)
    assert response.status_code == 200 and "publishing now" in response.content.decode()
    Delivery.objects.filter(pk=delivery.pk).update(status=S.SCHEDULED)

    dispatch_and_work()
    delivery.refresh_from_db()
    response = client.get(status_url, headers=htmx)
    assert response.status_code == 286
    html = response.content.decode()
    assert "hx-trigger" not in html
    assert "Published" in html and f'href="{delivery.remote_url}"' in html
    # Without htmx it is a plain fragment.
    assert client.get(status_url).status_code == 200


def test_a_delivery_scheduled_for_later_does_not_poll(client, cast, make_channel):
    [post] = build_posts(cast.workspace, [make_channel()], 1)
    delivery = post.deliveries.get()
    Delivery.objects.filter(pk=delivery.pk).update(
        status=S.SCHEDULED, next_attempt_at=now() + timedelta(hours=3)
    )
    client.force_login(cast.alice)
    response = client.get(url("posts:delivery-status", code=delivery.code), headers={"HX-Request": "true"})
    assert response.status_code == 286 and "hx-trigger" not in response.content.decode()
