"""Tokens: bearer auth, the owner's current role, revocation, rate limits."""

import pytest
from django.test import Client
from django.urls import reverse

from api.models import APIToken, hash_secret
from workspaces.models import Membership, Role


def test_it_answers_401_json_without_a_token(client, cast):
    response = client.get("/api/v1/channels")
    assert response.status_code == 401
    assert response["Content-Type"].startswith("application/json")
    assert "Authorization: Bearer" in response.json()["error"]
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "header",
    ["Bearer nonsense", "Bearer osk_not-a-real-token", "Basic YWxpY2U6cGFzc3dvcmQ=", "Bearer " + "x" * 5000],
)
def test_it_refuses_unknown_or_malformed_tokens(client, cast, redis_conn, header):
    response = client.get("/api/v1/me", headers={"Authorization": header})
    assert response.status_code == 401
    assert response.json()["error"]


def test_it_does_not_accept_a_logged_in_session_instead_of_a_token(client, cast):
    client.force_login(cast.alice)
    assert client.get("/api/v1/channels").status_code == 401


def test_it_stores_only_a_hash_of_the_token(cast, db):
    token, secret = APIToken.issue(workspace=cast.workspace, user=cast.alice, name="script")
    assert secret.startswith("osk_") and len(secret) > 40
    token.refresh_from_db()
    assert token.secret_hash == hash_secret(secret)
    assert secret not in str(APIToken.objects.filter(pk=token.pk).values().get())


def test_it_acts_in_the_tokens_workspace_as_its_owner(alice_api):
    me = alice_api.get("/api/v1/me").json()
    assert me["workspace"]["slug"] == "acme"
    assert me["username"] == "alice"
    assert me["role"] == "owner"
    assert "publish" in me["permissions"]


def test_it_records_when_a_token_was_last_used(alice_api, cast):
    token = APIToken.objects.get(user=cast.alice)
    assert token.last_used is None
    alice_api.get("/api/v1/me")
    token.refresh_from_db()
    assert token.last_used is not None


def test_it_refuses_a_revoked_token_at_once(alice_api, cast):
    assert alice_api.get("/api/v1/me").status_code == 200
    APIToken.objects.get(user=cast.alice).revoke()
    response = alice_api.get("/api/v1/me")
    assert response.status_code == 401
    assert "revoked" in response.json()["error"]


def test_it_refuses_the_token_of_someone_no_longer_a_member(make_api, cast):
    bob = make_api(cast.bob)
    Membership.objects.filter(user=cast.bob, workspace=cast.workspace).delete()
    response = bob.get("/api/v1/channels")
    assert response.status_code == 401
    assert "no longer a member" in response.json()["error"]


def test_it_applies_a_changed_role_to_the_next_request(make_api, cast):
    bob = make_api(cast.bob)
    Membership.objects.filter(user=cast.bob, workspace=cast.workspace).update(role=Role.VIEWER)
    response = bob.post("/api/v1/posts", {"channels": [], "parts": [{"text": "hi"}]})
    assert response.status_code == 403
    assert "Viewer" in response.json()["error"]


def test_it_refuses_tokens_of_deactivated_accounts(make_api, cast):
    bob = make_api(cast.bob)
    cast.bob.is_active = False
    cast.bob.save()
    assert bob.get("/api/v1/me").status_code == 401


def test_it_limits_requests_per_token_per_minute(make_api, cast, settings):
    settings.API_RATE_LIMIT_PER_MINUTE = 3
    alice = make_api(cast.alice)
    assert [alice.get("/api/v1/me").status_code for _ in range(3)] == [200, 200, 200]
    response = alice.get("/api/v1/me")
    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= 60
    assert "3 requests a minute" in response.json()["error"]
    # The limit is per token: another token of the same person is not slowed down.
    assert make_api(cast.alice).get("/api/v1/me").status_code == 200


def test_it_needs_no_csrf_token_for_api_writes(make_api, cast):
    api = make_api(cast.alice)
    api.client = Client(enforce_csrf_checks=True)
    response = api.post("/api/v1/posts", {"channels": [], "parts": [{"text": "draft"}], "mode": "draft"})
    assert response.status_code == 201, response.content
    assert response.json()["status"] == "draft"


def test_it_answers_unknown_api_paths_with_json_404(alice_api):
    response = alice_api.get("/api/v1/no-such-thing")
    assert response.status_code == 404
    assert response.json()["error"]


def test_it_answers_a_wrong_method_with_json_405(alice_api):
    response = alice_api.put("/api/v1/posts", {})
    assert response.status_code == 405
    assert "PUT is not allowed" in response.json()["error"]
    assert "POST" in response["Allow"]


def test_it_revokes_a_removed_members_tokens_for_good(make_api, client, cast):
    bob = make_api(cast.bob)
    assert bob.get("/api/v1/channels").status_code == 200
    target = Membership.objects.get(user=cast.bob, workspace=cast.workspace)
    client.force_login(cast.alice)
    client.post(reverse("workspaces:remove-member", kwargs={"slug": "acme", "membership_id": target.pk}))
    client.logout()
    assert bob.get("/api/v1/channels").status_code == 401
    # Invited back later, they start without the old token: it was revoked, not just unusable meanwhile.
    Membership.objects.create(workspace=cast.workspace, user=cast.bob, role=Role.EDITOR)
    response = bob.get("/api/v1/channels")
    assert response.status_code == 401
    assert "revoked" in response.json()["error"]
    assert not APIToken.objects.active().filter(user=cast.bob, workspace=cast.workspace).exists()


def test_it_keeps_a_leaving_members_tokens_of_other_workspaces(make_api, client, cast):
    Membership.objects.create(workspace=cast.other, user=cast.bob, role=Role.EDITOR)
    elsewhere = make_api(cast.bob, cast.other)
    target = Membership.objects.get(user=cast.bob, workspace=cast.workspace)
    client.force_login(cast.bob)
    client.post(reverse("workspaces:remove-member", kwargs={"slug": "acme", "membership_id": target.pk}))
    client.logout()
    assert elsewhere.get("/api/v1/channels").status_code == 200
