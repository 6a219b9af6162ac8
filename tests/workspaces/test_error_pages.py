"""Error pages: 403 with our reason, 404 with a way back, 500 without the database, all in plain pages
that the Content Security Policy allows (no inline styles or scripts). DEBUG is off in tests."""

import re
from html import unescape

import pytest
from django.core.exceptions import PermissionDenied
from django.test import Client, RequestFactory
from django.urls import path, reverse

from scheduler_project.urls import handler403, handler500  # noqa: F401 (this module is a urlconf)
from scheduler_project.urls import urlpatterns as project_patterns
from workspaces.models import Membership, Role


def boom(request):
    raise RuntimeError("connection to db.internal failed: password hunter2")


def refuse_like_a_library(request):
    raise PermissionDenied("SELECT * FROM auth_user WHERE is_staff")


urlpatterns = [
    path("boom/", boom),
    path("library-refusal/", refuse_like_a_library),
    *project_patterns,
]

SETTINGS = reverse("workspaces:settings", kwargs={"slug": "acme"})


def assert_csp_safe(html):
    assert "style=" not in html and "<style" not in html
    for tag in re.findall(r"<script[^>]*>", html):
        assert "nonce=" in tag and " src=" in tag, tag


def test_it_tells_a_contributor_why_in_the_site_layout(client, cast):
    client.force_login(cast.carol)
    response = client.get(SETTINGS)
    assert response.status_code == 403
    html = response.content.decode()
    assert "You cannot do this" in html
    assert "Your role (Contributor) cannot do this." in html
    assert 'class="topbar"' in html and "Log out" in html  # the base layout, logged in
    assert f'href="{reverse("workspaces:overview", kwargs={"slug": "acme"})}"' in html
    assert_csp_safe(html)
    assert "Content-Security-Policy" in response.headers


def test_it_shows_the_reason_of_other_refusals_too(client, cast):
    Membership.objects.filter(user=cast.bob, workspace=cast.workspace).update(role=Role.ADMIN)
    owner = Membership.objects.get(user=cast.alice, workspace=cast.workspace)
    client.force_login(cast.bob)
    response = client.post(
        reverse("workspaces:change-role", kwargs={"slug": "acme", "membership_id": owner.pk}),
        {"role": Role.VIEWER},
    )
    assert response.status_code == 403
    assert "Only owners can change an owner's role." in unescape(response.content.decode())


@pytest.mark.urls(__name__)
def test_it_keeps_messages_it_did_not_write_to_itself(client, cast):
    client.force_login(cast.alice)
    response = client.get("/library-refusal/")
    assert response.status_code == 403
    html = response.content.decode()
    assert "auth_user" not in html
    assert "You do not have permission to open this page." in html


@pytest.mark.urls(__name__)
def test_it_explains_a_refusal_to_a_logged_out_visitor(client, db):
    response = client.get("/library-refusal/")
    assert response.status_code == 403
    html = response.content.decode()
    assert f'href="{reverse("login")}"' in html and "Log out" not in html


def test_it_gives_a_stranger_the_not_found_page_with_their_workspaces(client, cast):
    client.force_login(cast.charlie)
    response = client.get(reverse("workspaces:overview", kwargs={"slug": "acme"}))
    assert response.status_code == 404
    html = response.content.decode()
    assert "Page not found" in html and 'class="topbar"' in html
    assert f'href="{reverse("workspaces:overview", kwargs={"slug": "charlies"})}"' in html
    assert "Acme" not in html  # nothing confirms the workspace exists
    assert_csp_safe(html)


def test_it_gives_a_logged_out_visitor_the_not_found_page(client, db):
    response = client.get("/no/such/page/")
    assert response.status_code == 404
    html = response.content.decode()
    assert "Page not found" in html and f'href="{reverse("login")}"' in html
    assert_csp_safe(html)


@pytest.mark.urls(__name__)
def test_it_shows_a_plain_500_page_without_the_error(cast):
    client = Client(raise_request_exception=False)
    client.force_login(cast.alice)
    response = client.get("/boom/")
    assert response.status_code == 500
    html = response.content.decode()
    assert "Something went wrong" in html
    assert "hunter2" not in html and "Traceback" not in html and "db.internal" not in html
    assert_csp_safe(html)


def test_the_500_page_needs_no_database_and_no_request_context():
    from scheduler_project.errors import server_error

    # No `db` fixture: pytest-django makes any query here raise, which the page would turn into the
    # bare fallback; the real page proves it asked nothing of the database.
    response = server_error(RequestFactory().get("/"))
    assert response.status_code == 500
    assert 'href="/static/css/app.css"' in response.content.decode()  # the real page, not the fallback


def test_the_500_page_renders_even_when_static_files_were_never_collected(settings, tmp_path):
    from scheduler_project.errors import server_error

    settings.STATIC_ROOT = tmp_path  # no manifest there
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"},
    }
    response = server_error(RequestFactory().get("/"))
    assert response.status_code == 500
    html = response.content.decode()
    assert "Something went wrong" in html and "app.css" not in html


def test_it_explains_an_expired_form(cast):
    client = Client(enforce_csrf_checks=True)
    response = client.post(reverse("login"), {"username": "alice", "password": "password-alice-1"})
    assert response.status_code == 403
    html = response.content.decode()
    assert "This form has expired" in html and "Nothing was saved." in html
    assert_csp_safe(html)
