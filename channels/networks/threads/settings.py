"""Threads' settings, read from the environment when the settings module loads."""

from scheduler_project.env import env_bool, env_float, env_int, env_str, env_url


def from_env() -> dict:
    return {
        # Meta's endpoints and the app's credentials.
        "THREADS_GRAPH_URL": env_url(
            "THREADS_GRAPH_URL", "https://graph.threads.net/v1.0", schemes=("http", "https")
        ),
        "THREADS_OAUTH_URL": env_url(
            "THREADS_OAUTH_URL", "https://threads.net/oauth/authorize", schemes=("http", "https")
        ),
        "THREADS_APP_ID": env_str("THREADS_APP_ID", ""),
        "THREADS_APP_SECRET": env_str("THREADS_APP_SECRET", ""),
        # Meta downloads media from SITE_URL: without a public SITE_URL, posts are text-only.
        "THREADS_MEDIA_REQUIRE_PUBLIC_URL": env_bool("THREADS_MEDIA_REQUIRE_PUBLIC_URL", True),
        # Waiting for Meta to process a container within one job (seconds), and retries of
        # "Media Not Found".
        "THREADS_CONTAINER_WAIT_SECONDS": env_float("THREADS_CONTAINER_WAIT_SECONDS", 60.0, minimum=0.0),
        "THREADS_POLL_FIRST_DELAY": env_float("THREADS_POLL_FIRST_DELAY", 1.0, minimum=0.0),
        "THREADS_POLL_MAX_DELAY": env_float("THREADS_POLL_MAX_DELAY", 10.0, minimum=0.0),
        "THREADS_MEDIA_NOT_FOUND_DELAY": env_float("THREADS_MEDIA_NOT_FOUND_DELAY", 2.0, minimum=0.0),
        "THREADS_MEDIA_NOT_FOUND_TRIES": env_int("THREADS_MEDIA_NOT_FOUND_TRIES", 3, minimum=1),
    }
