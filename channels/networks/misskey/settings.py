"""Misskey has no settings of its own: every server's address comes from the person connecting."""


def from_env() -> dict:
    return {}
