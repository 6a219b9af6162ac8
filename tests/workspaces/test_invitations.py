import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone

from workspaces.models import Invitation, Membership, Role


def invite(client, cast, email="dana@example.org", role=Role.EDITOR):
    client.force_login(cast.alice)
    return client.post(reverse("workspaces:invite", kwargs={"slug": "acme"}), {"email": email, "role": role})


def test_it_emails_a_single_use_link(client, cast, mailoutbox):
    response = invite(client, cast)
    assert response.status_code == 302
    assert len(mailoutbox) == 1
    message = mailoutbox[0]
    assert message.to == ["dana@example.org"]
    link = re.search(r"http://\S+(/invite/\S+/)", message.body)
    assert link, message.body
    client.logout()
    assert b"dana@example.org" in client.get(link.group(1)).content


@pytest.mark.parametrize("mode", ["invite-only", "open"])
def test_it_lets_a_new_person_sign_up_through_the_link(client, cast, settings, mode):
    settings.SIGNUP = mode
    invitation, token = Invitation.issue(
        workspace=cast.workspace, email="dana@example.org", role=Role.CONTRIBUTOR
    )
    url = reverse("workspaces:accept-invitation", args=[token])
    page = client.get(url)
    assert b"dana@example.org" in page.content
    response = client.post(url, {"name": "Dana", "password": "a-long-enough-passphrase"})
    assert response.status_code == 302
    dana = get_user_model().objects.get(email="dana@example.org")
    assert Membership.objects.get(user=dana, workspace=cast.workspace).role == Role.CONTRIBUTOR
    # Signed in and can log in again with the email address.
    client.logout()
    assert client.login(username="dana@example.org", password="a-long-enough-passphrase")


def test_it_keeps_what_was_typed_when_the_password_is_weak(client, cast, settings):
    settings.SIGNUP = "invite-only"
    invitation, token = Invitation.issue(workspace=cast.workspace, email="dana@example.org")
    url = reverse("workspaces:accept-invitation", args=[token])
    response = client.post(url, {"name": "Dana Scully", "password": "123"})
    assert response.status_code == 200
    assert b"Dana Scully" in response.content
    assert b"too short" in response.content
    assert not get_user_model().objects.filter(email="dana@example.org").exists()


def test_it_creates_no_account_from_an_invitation_when_signup_is_closed(client, cast, settings):
    settings.SIGNUP = "closed"
    invitation, token = Invitation.issue(workspace=cast.workspace, email="dana@example.org")
    url = reverse("workspaces:accept-invitation", args=[token])
    page = client.get(url).content.decode()
    assert "does not create accounts from invitations" in page
    assert 'name="password"' not in page
    assert f'href="{reverse("login")}?next={url}"' in page
    response = client.post(url, {"name": "Dana", "password": "a-long-enough-passphrase"})
    assert response.status_code == 200
    assert not get_user_model().objects.filter(email="dana@example.org").exists()
    assert Invitation.objects.get(pk=invitation.pk).accepted is None


def test_it_lets_an_account_made_by_the_operator_accept_when_signup_is_closed(client, cast, settings):
    settings.SIGNUP = "closed"
    invitation, token = Invitation.issue(workspace=cast.workspace, email="dana@example.org", role=Role.VIEWER)
    get_user_model().objects.create_user("dana", "Dana@example.org", "a-long-enough-passphrase")
    url = reverse("workspaces:accept-invitation", args=[token])
    response = client.post(
        f"{reverse('login')}?next={url}",
        {"username": "dana", "password": "a-long-enough-passphrase", "next": url},
    )
    assert response.url == url
    assert client.post(url).status_code == 302
    assert Membership.objects.get(user__username="dana", workspace=cast.workspace).role == Role.VIEWER


@pytest.mark.parametrize(("mode", "warned"), [("closed", True), ("invite-only", False), ("open", False)])
def test_it_tells_the_inviter_when_the_invited_person_cannot_make_an_account(
    client, cast, settings, mode, warned
):
    settings.SIGNUP = mode
    invite(client, cast, email="dana@example.org")
    page = client.get(reverse("workspaces:members", kwargs={"slug": "acme"})).content.decode()
    assert "Invitation sent to dana@example.org." in page
    assert ("ask whoever runs it to create one" in page) is warned
    # Someone who has an account can accept: no warning.
    invite(client, cast, email="Charlie@example.org")
    page = client.get(reverse("workspaces:members", kwargs={"slug": "acme"})).content.decode()
    assert "Invitation sent to charlie@example.org." in page
    assert "ask whoever runs it" not in page


def test_it_adds_an_existing_user_who_accepts(client, cast):
    invitation, token = Invitation.issue(workspace=cast.other, email="bob@example.org", role=Role.VIEWER)
    client.force_login(cast.bob)
    response = client.post(reverse("workspaces:accept-invitation", args=[token]))
    assert response.status_code == 302
    assert Membership.objects.get(user=cast.bob, workspace=cast.other).role == Role.VIEWER


def test_it_refuses_a_used_invitation(client, cast):
    invitation, token = Invitation.issue(workspace=cast.other, email="bob@example.org")
    client.force_login(cast.bob)
    client.post(reverse("workspaces:accept-invitation", args=[token]))
    Membership.objects.filter(user=cast.bob, workspace=cast.other).delete()
    response = client.post(reverse("workspaces:accept-invitation", args=[token]))
    assert response.status_code == 410
    assert b"already been used" in response.content
    assert not Membership.objects.filter(user=cast.bob, workspace=cast.other).exists()


def test_it_refuses_an_expired_invitation_even_before_sign_in(client, cast):
    invitation, token = Invitation.issue(
        workspace=cast.workspace, email="dana@example.org", expires=timezone.now() - timedelta(minutes=1)
    )
    response = client.get(reverse("workspaces:accept-invitation", args=[token]))
    assert response.status_code == 410
    assert b"expired" in response.content
    response = client.post(
        reverse("workspaces:accept-invitation", args=[token]),
        {"password": "a-long-enough-passphrase"},
    )
    assert response.status_code == 410
    assert not get_user_model().objects.filter(email="dana@example.org").exists()


def test_it_refuses_the_wrong_user(client, cast):
    invitation, token = Invitation.issue(workspace=cast.other, email="someone@example.org")
    client.force_login(cast.bob)
    response = client.post(reverse("workspaces:accept-invitation", args=[token]))
    assert response.status_code == 403
    assert b"This invitation is for someone@example.org" in response.content
    assert not Membership.objects.filter(user=cast.bob, workspace=cast.other).exists()
    assert Invitation.objects.get(pk=invitation.pk).accepted is None


def test_it_refuses_a_withdrawn_invitation(client, cast):
    invitation, token = Invitation.issue(workspace=cast.workspace, email="dana@example.org")
    client.force_login(cast.alice)
    client.post(
        reverse("workspaces:revoke-invitation", kwargs={"slug": "acme", "invitation_id": invitation.pk})
    )
    client.logout()
    response = client.get(reverse("workspaces:accept-invitation", args=[token]))
    assert response.status_code == 410
    assert b"withdrawn" in response.content


def test_it_404s_an_unknown_token(client, db):
    assert client.get(reverse("workspaces:accept-invitation", args=["nope"])).status_code == 404


def test_it_shows_the_invite_form_error_beside_the_field(client, cast):
    response = invite(client, cast, email="not-an-email")
    assert response.status_code == 400
    assert b"Enter a valid email address" in response.content
    assert b"not-an-email" in response.content


def test_it_does_not_let_an_admin_create_owners(client, cast):
    Membership.objects.filter(user=cast.bob, workspace=cast.workspace).update(role=Role.ADMIN)
    client.force_login(cast.bob)
    response = client.post(
        reverse("workspaces:invite", kwargs={"slug": "acme"}), {"email": "x@example.org", "role": Role.OWNER}
    )
    assert response.status_code == 400
    assert not Invitation.objects.filter(email="x@example.org").exists()


def test_it_stores_no_value_that_opens_the_invitation(client, cast, mailoutbox):
    invite(client, cast)
    token = re.search(r"/invite/(\S+)/", mailoutbox[0].body).group(1)
    client.logout()
    row = Invitation.objects.filter(email="dana@example.org").values().get()
    stored = [str(value) for value in row.values() if value is not None]
    assert not any(token in value for value in stored)
    for value in stored:
        assert client.get(reverse("workspaces:accept-invitation", args=[value])).status_code == 404
    assert client.get(reverse("workspaces:accept-invitation", args=[token])).status_code == 200


def test_it_shows_the_link_to_no_one_after_sending_it(client, cast, mailoutbox):
    invite(client, cast)
    token = re.search(r"/invite/(\S+)/", mailoutbox[0].body).group(1)
    page = client.get(reverse("workspaces:members", kwargs={"slug": "acme"}))
    assert b"dana@example.org" in page.content
    assert token.encode() not in page.content


def test_its_migration_hashes_the_links_sent_before_it(transactional_db):
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    before = [("workspaces", "0001_initial")]
    after = [("workspaces", "0002_invitation_token_hash")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    old = executor.loader.project_state(before).apps
    workspace = old.get_model("workspaces", "Workspace").objects.create(name="Old", slug="old")
    old.get_model("workspaces", "Invitation").objects.create(
        workspace=workspace,
        email="early@example.org",
        token="sent-before-the-upgrade",
        expires=timezone.now() + timedelta(days=1),
    )
    executor = MigrationExecutor(connection)
    executor.migrate(after)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())
    invitation = Invitation.objects.by_token("sent-before-the-upgrade")
    assert invitation.email == "early@example.org"
    row = Invitation.objects.filter(pk=invitation.pk).values().get()
    assert "sent-before-the-upgrade" not in [str(v) for v in row.values()]
