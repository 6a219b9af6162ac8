from django.urls import reverse

from workspaces.models import Membership, Role, Workspace


def url(name, **kwargs):
    return reverse(f"workspaces:{name}", kwargs={"slug": "acme", **kwargs})


def test_it_changes_a_role(client, cast):
    bob = Membership.objects.get(user=cast.bob, workspace=cast.workspace)
    client.force_login(cast.alice)
    client.post(url("change-role", membership_id=bob.pk), {"role": Role.VIEWER})
    bob.refresh_from_db()
    assert bob.role == Role.VIEWER


def test_it_keeps_the_last_owner(client, cast):
    alice = Membership.objects.get(user=cast.alice, workspace=cast.workspace)
    client.force_login(cast.alice)
    response = client.post(url("remove-member", membership_id=alice.pk), follow=True)
    assert b"at least one owner" in response.content
    assert Membership.objects.filter(pk=alice.pk).exists()


def test_it_lets_a_member_leave(client, cast):
    bob = Membership.objects.get(user=cast.bob, workspace=cast.workspace)
    client.force_login(cast.bob)
    client.post(url("remove-member", membership_id=bob.pk))
    assert not Membership.objects.filter(pk=bob.pk).exists()


def test_it_stops_an_editor_removing_others(client, cast):
    carol = Membership.objects.get(user=cast.carol, workspace=cast.workspace)
    client.force_login(cast.bob)
    assert client.post(url("remove-member", membership_id=carol.pk)).status_code == 403
    assert Membership.objects.filter(pk=carol.pk).exists()


def test_it_creates_a_workspace_owned_by_its_creator(client, cast):
    client.force_login(cast.bob)
    response = client.post(reverse("workspaces:create"), {"name": "Bob's Bakery", "timezone": "Asia/Kolkata"})
    workspace = Workspace.objects.get(name="Bob's Bakery")
    assert response.url == reverse("workspaces:overview", kwargs={"slug": workspace.slug})
    assert workspace.timezone == "Asia/Kolkata"
    assert Membership.objects.get(workspace=workspace, user=cast.bob).role == Role.OWNER


def test_it_refuses_an_unknown_time_zone(client, cast):
    client.force_login(cast.alice)
    response = client.post(url("settings"), {"name": "Acme", "slug": "acme", "timezone": "Mars/Olympus"})
    assert response.status_code == 200
    assert b"Select a valid choice" in response.content
    cast.workspace.refresh_from_db()
    assert cast.workspace.timezone == "Europe/Berlin"


def test_it_refuses_a_taken_slug(client, cast):
    client.force_login(cast.alice)
    response = client.post(url("settings"), {"name": "Acme", "slug": "charlies", "timezone": "UTC"})
    assert b"That address is taken" in response.content


def test_it_tells_other_apps_when_a_member_goes_and_shows_their_notices(client, cast):
    from workspaces.signals import member_left

    heard = []

    def receiver(sender, workspace, user, **kwargs):
        heard.append((workspace, user))
        return "Their keys were changed."

    member_left.connect(receiver)
    try:
        carol = Membership.objects.get(user=cast.carol, workspace=cast.workspace)
        client.force_login(cast.alice)
        page = client.post(url("remove-member", membership_id=carol.pk), follow=True).content.decode()
        assert "Their keys were changed." in page
        bob = Membership.objects.get(user=cast.bob, workspace=cast.workspace)
        client.force_login(cast.bob)
        page = client.post(url("remove-member", membership_id=bob.pk), follow=True).content.decode()
        assert "You left Acme." in page and "Their keys were changed." not in page  # for the remover only
    finally:
        member_left.disconnect(receiver)
    assert heard == [(cast.workspace, cast.carol), (cast.workspace, cast.bob)]
