import json

from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection

from channels.crypto import Secret, SecretDecryptionError, decrypt, encrypt
from channels.models import Channel


def raw_credentials(channel) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT credentials FROM channels_channel WHERE id = %s", [channel.pk])
        return cursor.fetchone()[0]


def make_channel(workspace, token="tok-SECRET-123"):
    channel = Channel(
        workspace=workspace,
        network="mastodon",
        remote_id="1",
        handle="@a@example.org",
        server_url="https://example.org",
    )
    channel.set_credentials({"access_token": token})
    channel.save()
    return channel


def test_it_stores_credentials_encrypted(cast):
    channel = make_channel(cast.workspace)
    stored = raw_credentials(channel)
    assert "tok-SECRET-123" not in stored
    assert Channel.objects.get(pk=channel.pk).get_credentials() == {"access_token": "tok-SECRET-123"}


def test_it_never_shows_a_secret_in_repr():
    assert "abc" not in repr(Secret("abc"))


def test_it_rotates_every_secret_to_the_newest_key(cast, settings):
    old_key = settings.SECRET_ENCRYPTION_KEYS[0]
    channel = make_channel(cast.workspace)
    before = raw_credentials(channel)

    new_key = Fernet.generate_key().decode()
    settings.SECRET_ENCRYPTION_KEYS = [new_key, old_key]
    call_command("rotate_secrets", stdout=open("/dev/null", "w"))
    after = raw_credentials(channel)
    assert after != before
    # Readable with the new key alone: the old key can now be dropped.
    settings.SECRET_ENCRYPTION_KEYS = [new_key]
    assert json.loads(decrypt(after)) == {"access_token": "tok-SECRET-123"}
    assert Channel.objects.get(pk=channel.pk).get_credentials()["access_token"] == "tok-SECRET-123"


def test_it_says_clearly_when_no_key_fits(settings):
    token = encrypt("hello")
    settings.SECRET_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    try:
        decrypt(token)
    except SecretDecryptionError as exc:
        assert "SECRET_ENCRYPTION_KEYS" in str(exc)
        assert "hello" not in str(exc)
    else:
        raise AssertionError("decrypting with the wrong key must fail")
