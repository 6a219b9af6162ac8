"""SIGNUP: who may create an account at /accounts/signup/ (closed, invite-only, open)."""

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

SIGNUP = reverse("signup")
GOOD = {
    "username": "dana",
    "email": "dana@example.org",
    "password1": "a-long-enough-passphrase",
    "password2": "a-long-enough-passphrase",
}


@pytest.mark.parametrize("mode", ["closed", "invite-only"])
def test_it_has_no_signup_page_unless_open(client, db, settings, mode):
    settings.SIGNUP = mode
    assert client.get(SIGNUP).status_code == 404
    assert client.post(SIGNUP, GOOD).status_code == 404
    assert not get_user_model().objects.filter(username="dana").exists()
    assert b"Create an account" not in client.get(reverse("login")).content


def test_it_is_closed_by_default(client, db):
    from django.conf import settings

    assert settings.SIGNUP == "closed"
    assert client.get(SIGNUP).status_code == 404


def test_it_creates_the_account_logs_in_and_asks_for_a_workspace(client, db, settings):
    settings.SIGNUP = "open"
    login_page = client.get(reverse("login")).content.decode()
    assert f'href="{SIGNUP}"' in login_page
    assert client.get(SIGNUP).status_code == 200
    response = client.post(SIGNUP, GOOD)
    assert response.status_code == 302
    assert response.url == reverse("workspaces:create")
    dana = get_user_model().objects.get(username="dana")
    assert dana.email == "dana@example.org"
    page = client.get(response.url).content.decode()
    assert "New workspace" in page and "dana" in page  # logged in
    response = client.post(reverse("workspaces:create"), {"name": "Dana's shop", "timezone": "UTC"})
    assert response.url == reverse("workspaces:overview", kwargs={"slug": "danas-shop"})
    client.logout()
    assert client.login(username="dana@example.org", password="a-long-enough-passphrase")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"password2": "another-passphrase"}, "The two password fields didn’t match."),
        ({"password1": "short1", "password2": "short1"}, "This password is too short"),
        ({"username": "alice"}, "A user with that username already exists."),
        ({"username": "dana@example.org"}, "Choose a user name without"),
        ({"email": "Alice@example.org"}, "An account with this address exists already"),
        ({"email": "not-an-address"}, "Enter a valid email address."),
    ],
)
def test_it_refuses_bad_details_beside_the_field(client, cast, settings, change, message):
    settings.SIGNUP = "open"
    response = client.post(SIGNUP, {**GOOD, **change})
    assert response.status_code == 200
    assert message in response.content.decode()
    assert get_user_model().objects.count() == 5  # the cast only


def test_it_needs_the_csrf_token(db, settings):
    from django.test import Client

    settings.SIGNUP = "open"
    response = Client(enforce_csrf_checks=True).post(SIGNUP, GOOD)
    assert response.status_code == 403
    assert not get_user_model().objects.filter(username="dana").exists()


def test_it_sends_someone_logged_in_home(client, cast, settings):
    settings.SIGNUP = "open"
    client.force_login(cast.alice)
    assert client.get(SIGNUP).url == reverse("workspaces:home")
