"""The API tokens page: every member makes and revokes their own tokens; admins revoke anyone's."""

import re

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from api.models import APIToken

TOKENS = reverse("api:tokens", kwargs={"slug": "acme"})


def create(client, name="Nightly export"):
    return client.post(TOKENS, {"action": "create", "name": name})


def shown_secret(response) -> str:
    match = re.search(r'value="(osk_[^"]+)"', response.content.decode())
    assert match, "the new token is not on the page"
    return match.group(1)


def test_it_shows_a_new_token_once_and_it_works(client, cast, redis_conn):
    client.force_login(cast.victor)  # even a viewer may have a (read-only) token
    response = create(client)
    assert response.status_code == 201
    assert response["Cache-Control"] == "no-store"
    secret = shown_secret(response)
    assert "shown only once" in response.content.decode()
    token = APIToken.objects.get(user=cast.victor)
    assert token.name == "Nightly export" and token.workspace == cast.workspace
    assert secret not in client.get(TOKENS).content.decode()
    api = client.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"})
    assert api.json()["role"] == "viewer"


def test_it_keeps_what_was_typed_when_the_name_is_missing(client, cast):
    client.force_login(cast.bob)
    response = create(client, name="")
    assert response.status_code == 400
    assert 'role="alert"' in response.content.decode()
    assert not APIToken.objects.exists()


def test_it_revokes_the_members_own_token(client, cast, redis_conn):
    client.force_login(cast.bob)
    secret = shown_secret(create(client))
    token = APIToken.objects.get()
    response = client.post(TOKENS, {"action": "revoke", "token": str(token.code)})
    assert response.status_code == 302
    token.refresh_from_db()
    assert token.revoked is not None
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"}).status_code == 401
    assert "is revoked" in client.get(TOKENS).content.decode()
    assert (
        "Nightly export" not in client.get(TOKENS).content.decode()
    )  # the message was shown; the list is empty


def test_it_hides_other_members_tokens_from_non_admins(client, cast):
    token, _ = APIToken.issue(workspace=cast.workspace, user=cast.alice, name="Alice script")
    client.force_login(cast.bob)
    assert "Alice script" not in client.get(TOKENS).content.decode()
    response = client.post(TOKENS, {"action": "revoke", "token": str(token.code)})
    assert response.status_code == 404
    token.refresh_from_db()
    assert token.revoked is None


def test_it_lets_admins_revoke_anyones_token(client, cast):
    token, _ = APIToken.issue(workspace=cast.workspace, user=cast.bob, name="Bob script")
    client.force_login(cast.alice)
    page = client.get(TOKENS).content.decode()
    assert "Bob script" in page and "bob" in page
    client.post(TOKENS, {"action": "revoke", "token": str(token.code)})
    token.refresh_from_db()
    assert token.revoked is not None


def test_it_gives_404_for_another_workspaces_token(client, cast):
    token, _ = APIToken.issue(workspace=cast.other, user=cast.charlie, name="Charlie script")
    client.force_login(cast.alice)
    assert client.post(TOKENS, {"action": "revoke", "token": str(token.code)}).status_code == 404
    token.refresh_from_db()
    assert token.revoked is None


def test_it_ignores_bad_revoke_requests(client, cast):
    client.force_login(cast.alice)
    for data in ({"action": "revoke", "token": "nope"}, {"action": "dance"}, {}):
        response = client.post(TOKENS, data, follow=True)
        assert response.status_code == 200


def test_it_renders_with_a_fixed_number_of_queries(client, cast):
    client.force_login(cast.alice)

    def measure():
        with CaptureQueriesContext(connection) as captured:
            assert client.get(TOKENS).status_code == 200
        return len(captured)

    for user in (cast.alice, cast.bob):
        APIToken.issue(workspace=cast.workspace, user=user, name="one")
    few = measure()
    for n in range(20):
        APIToken.issue(workspace=cast.workspace, user=[cast.alice, cast.bob, cast.carol][n % 3], name=f"t{n}")
    assert measure() == few
