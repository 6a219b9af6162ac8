"""Bluesky's settings, read from the environment when the settings module loads."""

from scheduler_project.env import env_int, env_url


def from_env() -> dict:
    return {
        "BLUESKY_DEFAULT_PDS": env_url(
            "BLUESKY_DEFAULT_PDS", "https://bsky.social", schemes=("http", "https")
        ),
        "BLUESKY_MAX_BLOB_BYTES": env_int("BLUESKY_MAX_BLOB_BYTES", 1_000_000, minimum=100_000),
    }
