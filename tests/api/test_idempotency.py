"""Idempotency-Key: a retried POST answers the first result and does the work once."""

import io

from PIL import Image

from api.models import IdempotencyRecord
from posts.models import Media, Post


def post_body(channel, text="Hello once"):
    return {"channels": [str(channel.code)], "parts": [{"text": text}], "mode": "now"}


def test_it_answers_a_repeated_key_with_the_first_result(alice_api, mastodon_channel):
    headers = {"Idempotency-Key": "order-42"}
    first = alice_api.post("/api/v1/posts", post_body(mastodon_channel), headers=headers)
    second = alice_api.post("/api/v1/posts", post_body(mastodon_channel), headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.content == second.content
    assert second["Idempotent-Replayed"] == "true"
    assert Post.objects.count() == 1


def test_it_treats_the_same_json_with_other_spacing_as_the_same_request(alice_api, mastodon_channel):
    headers = {"Idempotency-Key": "spacing"}
    alice_api.post("/api/v1/posts", post_body(mastodon_channel), headers=headers)
    import json

    spaced = json.dumps(post_body(mastodon_channel), indent=4, sort_keys=True)
    again = alice_api.post("/api/v1/posts", raw=spaced, headers=headers)
    assert again.status_code == 201
    assert Post.objects.count() == 1


def test_it_refuses_a_repeated_key_with_another_body(alice_api, mastodon_channel):
    headers = {"Idempotency-Key": "order-43"}
    alice_api.post("/api/v1/posts", post_body(mastodon_channel, "first"), headers=headers)
    response = alice_api.post("/api/v1/posts", post_body(mastodon_channel, "second"), headers=headers)
    assert response.status_code == 422
    assert "different request" in response.json()["error"]
    assert "Idempotency-Key" in response.json()["fields"]
    assert list(Post.objects.values_list("parts__text", flat=True)) == ["first"]


def test_it_refuses_the_same_key_on_another_endpoint(alice_api, mastodon_channel, fake_mastodon):
    headers = {"Idempotency-Key": "shared"}
    alice_api.post("/api/v1/posts", post_body(mastodon_channel), headers=headers)
    response = alice_api.post(
        "/api/v1/channels",
        {"network": "mastodon", "instance_url": fake_mastodon.url, "access_token": fake_mastodon.token},
        headers=headers,
    )
    assert response.status_code == 422


def test_it_replays_a_refusal_too(alice_api, bluesky_channel):
    headers = {"Idempotency-Key": "too-long"}
    body = {"channels": [str(bluesky_channel.code)], "parts": [{"text": "x" * 400}], "mode": "now"}
    first = alice_api.post("/api/v1/posts", body, headers=headers)
    second = alice_api.post("/api/v1/posts", body, headers=headers)
    assert first.status_code == second.status_code == 400
    assert first.content == second.content


def test_it_keeps_keys_per_token(make_api, cast, mastodon_channel):
    headers = {"Idempotency-Key": "same-key"}
    make_api(cast.alice).post("/api/v1/posts", post_body(mastodon_channel), headers=headers)
    make_api(cast.bob).post("/api/v1/posts", post_body(mastodon_channel), headers=headers)
    assert Post.objects.count() == 2


def test_it_does_the_work_each_time_without_a_key(alice_api, mastodon_channel):
    alice_api.post("/api/v1/posts", post_body(mastodon_channel))
    alice_api.post("/api/v1/posts", post_body(mastodon_channel))
    assert Post.objects.count() == 2


def test_it_refuses_unusable_keys(alice_api, mastodon_channel):
    response = alice_api.post(
        "/api/v1/posts", post_body(mastodon_channel), headers={"Idempotency-Key": "x" * 300}
    )
    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()["fields"]
    assert not Post.objects.exists()


def test_it_says_when_the_first_request_is_still_running(alice_api, mastodon_channel, cast):
    from api.idempotency import fingerprint  # noqa: F401 - the record below is what a running request leaves

    token = cast.alice.api_tokens.get()
    first = alice_api.post("/api/v1/posts", post_body(mastodon_channel), headers={"Idempotency-Key": "probe"})
    record = IdempotencyRecord.objects.get(token=token, key="probe")
    IdempotencyRecord.objects.create(token=token, key="running", fingerprint=record.fingerprint)
    response = alice_api.post(
        "/api/v1/posts", post_body(mastodon_channel), headers={"Idempotency-Key": "running"}
    )
    assert first.status_code == 201
    assert response.status_code == 409
    assert response["Retry-After"] == "1"
    assert Post.objects.count() == 1


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 10, 10)).save(buffer, "PNG")
    return buffer.getvalue()


def test_it_uploads_media_once_for_a_repeated_key(alice_api):
    from django.core.files.uploadedfile import SimpleUploadedFile

    headers = {"Idempotency-Key": "upload-1"}
    data = _png()
    first = alice_api.upload("/api/v1/media", {"file": SimpleUploadedFile("a.png", data)}, headers=headers)
    second = alice_api.upload("/api/v1/media", {"file": SimpleUploadedFile("a.png", data)}, headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.json()["code"] == second.json()["code"]
    assert Media.objects.count() == 1
