"""Secrets at rest: a model field that stores text encrypted with the configured Fernet keys.

SECRET_ENCRYPTION_KEYS lists keys newest first. Values are encrypted with the first key and
decrypted with any of them, so a new key can be put in front, `manage.py rotate_secrets` run,
and the old keys dropped afterwards.
"""

from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.db import models


class SecretDecryptionError(Exception):
    """A stored secret could not be decrypted with any configured key."""


@cache
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(key) for key in keys])


def fernet() -> MultiFernet:
    return _fernet(tuple(settings.SECRET_ENCRYPTION_KEYS))


def encrypt(plaintext: str) -> str:
    return fernet().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        raise SecretDecryptionError(
            "A stored secret cannot be decrypted with any key in SECRET_ENCRYPTION_KEYS."
        ) from None


def rotate(token: str) -> str:
    """Re-encrypt a stored value under the newest key."""
    try:
        return fernet().rotate(token.encode()).decode()
    except InvalidToken:
        raise SecretDecryptionError(
            "A stored secret cannot be decrypted with any key in SECRET_ENCRYPTION_KEYS."
        ) from None


class Secret(str):
    """A decrypted value whose repr never shows the secret (tracebacks, debug pages, logs)."""

    def __repr__(self) -> str:
        return "Secret('***')"


class EncryptedTextField(models.TextField):
    """Text encrypted at rest. Empty string and None are stored as they are."""

    description = "Text encrypted with SECRET_ENCRYPTION_KEYS"

    def from_db_value(self, value, expression, connection):
        if value is None or value == "":
            return value
        return Secret(decrypt(value))

    def to_python(self, value):
        return value

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        return encrypt(str(value))
