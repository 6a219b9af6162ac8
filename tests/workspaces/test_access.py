"""Every workspace page: strangers get 404, members without the right get 403, other workspaces' objects 404.

The list of views is read from the URL configuration, so a new view is covered the day it is added.
"""

import uuid

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from channels.models import Channel
from workspaces.models import ROLE_PERMS, Invitation, Membership


def workspace_patterns():
    def walk(patterns, prefix="", namespace=None):
        for p in patterns:
            if isinstance(p, URLResolver):
                ns = p.namespace or namespace
                yield from walk(p.url_patterns, prefix + str(p.pattern), ns)
            elif isinstance(p, URLPattern) and "<slug:slug>" in prefix + str(p.pattern):
                yield f"{namespace}:{p.name}" if namespace else p.name, p.callback

    return sorted(set(walk(get_resolver().url_patterns)))


PATTERNS = workspace_patterns()


def objects_in(workspace, cast):
    channel = Channel.objects.create(
        workspace=workspace,
        network="mastodon",
        remote_id=str(uuid.uuid4()),
        handle="@x@example.org",
        server_url="https://example.org",
    )
    invitation = Invitation.objects.create(workspace=workspace, email="new@example.org")
    membership = Membership.objects.filter(workspace=workspace).exclude(user=cast.alice).first()
    return {"code": channel.code, "invitation_id": invitation.pk, "membership_id": membership.pk}


def url_for(name, slug, objects):
    from django.urls import NoReverseMatch

    for keys in ([], ["code"], ["membership_id"], ["invitation_id"]):
        try:
            return reverse(name, kwargs={"slug": slug, **{k: objects[k] for k in keys}})
        except NoReverseMatch:
            continue
    raise AssertionError(f"cannot build a URL for {name}")


def test_it_finds_the_workspace_views():
    names = [name for name, _ in PATTERNS]
    assert "workspaces:overview" in names and "channels:list" in names and "workspaces:invite" in names


@pytest.mark.parametrize(("name", "view"), PATTERNS, ids=[n for n, _ in PATTERNS])
def test_it_gives_strangers_404(client, cast, name, view):
    objects = objects_in(cast.workspace, cast)
    client.force_login(cast.charlie)
    url = url_for(name, "acme", objects)
    assert client.get(url).status_code == 404
    assert client.post(url).status_code == 404


@pytest.mark.parametrize(("name", "view"), PATTERNS, ids=[n for n, _ in PATTERNS])
def test_it_gives_404_for_another_workspaces_objects(client, cast, name, view):
    objects_in(cast.workspace, cast)
    foreign = objects_in(cast.other, cast)
    needs_object = (
        url_for(name, "acme", foreign) != reverse(name, kwargs={"slug": "acme"}) if _plain(name) else True
    )
    if not needs_object:
        pytest.skip("this view takes no object")
    client.force_login(cast.alice)
    url = url_for(name, "acme", foreign)
    assert client.get(url).status_code in (404, 405)  # 405: a POST-only view refuses GET before any lookup
    assert client.post(url).status_code == 404


def _plain(name):
    from django.urls import NoReverseMatch

    try:
        reverse(name, kwargs={"slug": "acme"})
        return True
    except NoReverseMatch:
        return False


@pytest.mark.parametrize(("name", "view"), PATTERNS, ids=[n for n, _ in PATTERNS])
def test_it_gives_403_to_roles_without_the_right(client, cast, name, view):
    perm = getattr(view, "required_perm", None)
    assert perm is not None, f"{name} is not protected by workspace_view"
    objects = objects_in(cast.workspace, cast)
    url = url_for(name, "acme", objects)
    for user in (cast.bob, cast.carol, cast.victor):
        role = Membership.objects.get(user=user, workspace=cast.workspace).role
        if perm in ROLE_PERMS[role]:
            continue
        client.force_login(user)
        assert client.get(url).status_code == 403, (name, role)
        assert client.post(url).status_code == 403, (name, role)


def test_it_redirects_anonymous_visitors_to_log_in(client, cast):
    response = client.get(reverse("workspaces:overview", kwargs={"slug": "acme"}))
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_it_lets_a_viewer_see_but_not_change(client, cast):
    client.force_login(cast.victor)
    assert client.get(reverse("channels:list", kwargs={"slug": "acme"})).status_code == 200
    assert client.get(reverse("workspaces:members", kwargs={"slug": "acme"})).status_code == 200
    response = client.post(reverse("workspaces:invite", kwargs={"slug": "acme"}), {"email": "x@example.org"})
    assert response.status_code == 403
    assert not Invitation.objects.filter(email="x@example.org").exists()


def test_it_switches_between_workspaces(client, cast):
    from workspaces.models import Role

    Membership.objects.create(workspace=cast.other, user=cast.alice, role=Role.VIEWER)
    client.force_login(cast.alice)
    page = client.get(reverse("workspaces:overview", kwargs={"slug": "acme"})).content.decode()
    assert reverse("workspaces:overview", kwargs={"slug": "charlies"}) in page  # the switcher lists both
    client.get(reverse("workspaces:overview", kwargs={"slug": "charlies"}))
    # Home opens the workspace used last.
    assert client.get(reverse("workspaces:home")).url == reverse(
        "workspaces:overview", kwargs={"slug": "charlies"}
    )
