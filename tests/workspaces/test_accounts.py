import re

from django.core.management import call_command
from django.urls import reverse


def test_it_logs_in_with_username_or_email(client, cast):
    response = client.post(
        reverse("login"), {"username": "alice@example.org", "password": "password-alice-1"}
    )
    assert response.status_code == 302
    client.logout()
    response = client.post(reverse("login"), {"username": "alice", "password": "wrong"})
    assert response.status_code == 200
    assert b"Please enter a correct" in response.content


def test_it_resets_a_password_by_email_with_a_link_to_site_url(client, cast, mailoutbox, settings):
    settings.SITE_URL = "https://scheduler.example.org"
    client.post(reverse("password_reset"), {"email": "alice@example.org"}, HTTP_HOST="evil.example")
    assert len(mailoutbox) == 1
    link = re.search(r"https://scheduler\.example\.org(/accounts/reset/\S+/)", mailoutbox[0].body)
    assert link, mailoutbox[0].body
    form = client.get(link.group(1), follow=True)
    assert b"Choose a new password" in form.content
    response = client.post(
        form.redirect_chain[-1][0],
        {"new_password1": "brand-new-passphrase", "new_password2": "brand-new-passphrase"},
    )
    assert response.status_code == 302
    assert client.login(username="alice", password="brand-new-passphrase")


def test_it_creates_the_demo_login_once(db, capsys):
    from django.contrib.auth import get_user_model

    call_command("ensure_demo")
    call_command("ensure_demo")
    user = get_user_model().objects.get(username="demo")
    assert user.check_password("demo-password")
    assert user.memberships.get().role == "owner"
    assert "demo" in capsys.readouterr().out


def test_it_logs_out_with_a_post(client, cast):
    client.force_login(cast.alice)
    client.post(reverse("logout"))
    assert client.get(reverse("workspaces:home")).status_code == 302
