"""NUL characters in every text a person or a script can send: answered with a sentence or left out,
never a server error. PostgreSQL refuses NUL in any string; SQLite (the test database) would store it,
so a fixture makes the test database refuse it as PostgreSQL does."""

import io
import json

import pytest
from django.apps import apps
from django.db import connection, models
from django.urls import reverse
from PIL import Image

from api.models import APIToken
from posts.models import Comment, Media, Post, PostPart
from tests.api.conftest import ApiClient

NUL = "\x00"


def _refuse_nul(execute, sql, params, many, context):
    rows = params if many else [params]
    for row in rows or ():
        values = row.values() if isinstance(row, dict) else row or ()
        if any(isinstance(value, str) and NUL in value for value in values):
            # What psycopg answers on PostgreSQL.
            raise ValueError("A string literal cannot contain NUL (0x00) characters.")
    return execute(sql, params, many, context)


@pytest.fixture(autouse=True)
def like_postgresql(db, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    with connection.execute_wrapper(_refuse_nul):
        yield


def stored_nul() -> list[str]:
    """Every text column of every row that holds a NUL (none can, on PostgreSQL)."""
    found = []
    for model in apps.get_models():
        fields = [
            f.name for f in model._meta.concrete_fields if isinstance(f, models.CharField | models.TextField)
        ]
        for row in model.objects.values("pk", *fields) if fields else ():
            found += [f"{model.__name__}.{name}" for name in fields if NUL in str(row[name] or "")]
    return found


def url(name, **kwargs):
    return reverse(name, kwargs={"slug": "acme", **kwargs})


def pending_post(cast):
    post = Post.objects.create(
        workspace=cast.workspace, author=cast.carol, status=Post.Status.PENDING_APPROVAL, mode=Post.Mode.NOW
    )
    PostPart.objects.create(post=post, index=0, text="Please check")
    return post


def image_bytes():
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(buffer, "PNG")
    return buffer.getvalue()


def test_a_comment_keeps_its_text_without_the_nul(client, cast):
    post = pending_post(cast)
    client.force_login(cast.bob)
    response = client.post(url("posts:comment-post", code=post.code), {"text": "Looks\x00 good"})
    assert response.status_code == 302
    assert Comment.objects.get(post=post).text == "Looks good"
    assert not stored_nul()


def test_a_comment_of_only_nul_is_refused_with_a_sentence(client, cast):
    post = pending_post(cast)
    client.force_login(cast.bob)
    response = client.post(url("posts:comment-post", code=post.code), {"text": NUL * 3})
    assert response.status_code == 400  # the form again, with the sentence beside the field
    assert "Write a comment first." in response.content.decode()
    assert not Comment.objects.exists()


def test_a_post_sent_back_keeps_the_comment_without_the_nul(client, cast):
    post = pending_post(cast)
    client.force_login(cast.bob)
    response = client.post(url("posts:send-back-post", code=post.code), {"comment": "Shorter\x00 please"})
    assert response.status_code == 302
    assert Comment.objects.get(post=post).text == "Shorter please"
    post.refresh_from_db()
    assert post.status == Post.Status.DRAFT
    assert not stored_nul()


def test_an_images_alt_text_is_saved_without_the_nul(client, cast):
    client.force_login(cast.alice)
    upload = client.post(
        url("posts:media-upload"), {"file": io.BytesIO(image_bytes())}, HTTP_HX_REQUEST="true"
    )
    assert upload.status_code < 400, upload.content
    media = Media.objects.get()
    response = client.post(
        url("posts:media-update", code=media.code),
        {f"alt-{media.code}": "Red\x00 square"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code < 500
    media.refresh_from_db()
    assert media.alt_text == "Red square"
    assert not stored_nul()


def _channel(cast):
    from channels.models import Channel

    return Channel.objects.create(
        workspace=cast.workspace,
        network="mastodon",
        remote_id="1",
        handle="@a@example.org",
        server_url="https://example.org",
    )


# (page, form data) a dashboard form receives; each has a field carrying a NUL.
FORMS = {
    "workspace name": (lambda cast: url("workspaces:settings"), {"name": "Acme\x00", "timezone": "UTC"}),
    "workspace address": (
        lambda cast: url("workspaces:settings"),
        {"name": "Acme", "slug": "ac\x00me", "timezone": "UTC"},
    ),
    "workspace zone": (lambda cast: url("workspaces:settings"), {"name": "Acme", "timezone": "UTC\x00"}),
    "invitation address": (
        lambda cast: url("workspaces:invite"),
        {"email": "dan\x00@example.org", "role": "editor"},
    ),
    "invitation role": (
        lambda cast: url("workspaces:invite"),
        {"email": "dan@example.org", "role": "editor\x00"},
    ),
    "channel zone": (
        lambda cast: url("channels:detail", code=_channel(cast).code),
        {"timezone": "Europe/Berlin\x00"},
    ),
    "API token name": (lambda cast: url("api:tokens"), {"action": "create", "name": "Zapier\x00"}),
    "Mastodon server": (
        lambda cast: url("channels:connect-mastodon"),
        {"method": "token", "token-instance_url": "mastodon\x00.social", "token-access_token": "x"},
    ),
    "Mastodon sign-in server": (
        lambda cast: url("channels:connect-mastodon"),
        {"signin-instance_url": "mas\x00todon.social"},
    ),
    "Bluesky handle": (
        lambda cast: url("channels:connect-bluesky"),
        {
            "handle": "alice\x00.bsky.social",
            "app_password": "abcd-efgh-ijkl-mnop",
            "pds_url": "https://bsky.social",
        },
    ),
    "Bluesky server": (
        lambda cast: url("channels:connect-bluesky"),
        {
            "handle": "alice.bsky.social",
            "app_password": "abcd-efgh-ijkl-mnop",
            "pds_url": "https://bsky\x00.social",
        },
    ),
}


@pytest.mark.parametrize("name", FORMS.keys())
def test_dashboard_forms_answer_a_nul_with_a_sentence(client, cast, name):
    page, data = FORMS[name]
    client.force_login(cast.alice)
    response = client.post(page(cast), data)
    assert response.status_code in (200, 400), response.status_code  # the form again, with its errors
    page = response.content.decode()
    assert 'class="error' in page or "errorlist" in page
    assert not stored_nul()


@pytest.fixture
def api(client, cast, redis_conn):
    _, secret = APIToken.issue(workspace=cast.workspace, user=cast.alice, name="bad input")
    return ApiClient(client, secret)


def _post_body(channel, **fields):
    return {"channels": [str(channel.code)], "parts": [{"text": "Hello"}], **fields}


API = {
    "part text": lambda c: ("/api/v1/posts", _post_body(c, parts=[{"text": "Hel\x00lo"}])),
    "content warning": lambda c: ("/api/v1/posts", _post_body(c, options={"content_warning": "c\x00w"})),
    "language": lambda c: ("/api/v1/posts", _post_body(c, options={"language": "e\x00n"})),
    "topic tag": lambda c: ("/api/v1/posts", _post_body(c, options={"topic_tag": "t\x00ag"})),
    "link": lambda c: ("/api/v1/posts", _post_body(c, options={"link_attachment": "https://a\x00.org"})),
    "override": lambda c: ("/api/v1/posts", _post_body(c, overrides={str(c.code): ["Hi\x00"]})),
    "zone": lambda c: (
        "/api/v1/posts",
        _post_body(c, mode="at", scheduled_at="2030-01-01T09:00", timezone="Europe/Berlin\x00"),
    ),
    "channel handle": lambda c: (
        "/api/v1/channels",
        {"network": "bluesky", "handle": "a\x00.bsky.social", "app_password": "abcd-efgh-ijkl-mnop"},
    ),
    "channel server": lambda c: (
        "/api/v1/channels",
        {"network": "mastodon", "instance_url": "mastodon\x00.social", "access_token": "x"},
    ),
    "schedule zone": lambda c: (f"/api/v1/channels/{c.code}/schedule", {"slots": [], "timezone": "UTC\x00"}),
}


@pytest.mark.parametrize("name", API.keys())
def test_api_fields_answer_a_nul_with_a_sentence(api, cast, name):
    path, body = API[name](_channel(cast))
    method = api.put if path.endswith("/schedule") else api.post
    response = method(path, body)
    assert response.status_code == 400, response.content
    data = response.json()
    assert data["error"].endswith(".")
    assert any("NUL" in reason for reasons in data["fields"].values() for reason in reasons), data
    assert not stored_nul()


def test_api_image_alt_text_answers_a_nul_with_a_sentence(api, cast):
    response = api.upload("/api/v1/media", {"file": io.BytesIO(image_bytes()), "alt_text": "Red\x00 square"})
    assert response.status_code == 400, response.content
    assert "NUL" in json.dumps(response.json())
    assert not Media.objects.exists()
