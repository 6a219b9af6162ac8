"""Suite-wide fixtures: Redis (real when REDIS_URL is set, embedded otherwise) and the cast of users.

alice owns workspace "acme"; bob is an editor there; charlie is a stranger with a workspace of his
own; carol is a contributor and victor a viewer in acme.
"""

import os

import pytest

# Each fake network module defines its fixtures (fake_<network>, <network>_channel).
pytest_plugins = [
    "tests.networks.mastodon.fake",
    "tests.networks.bluesky.fake",
    "tests.networks.threads.fake",
    "tests.networks.misskey.fake",
]

_embedded = None


def pytest_configure(config):
    """Point RQ at a Redis before any test connects: the configured one, or an embedded server."""
    global _embedded
    from django.conf import settings

    url = os.environ.get("REDIS_URL")
    if not url:
        from scheduler_project.embedded_redis import embedded_redis

        _embedded = embedded_redis()
        url = _embedded.__enter__()
        os.environ["REDIS_URL"] = url  # for worker subprocesses started by tests
    settings.REDIS_URL = url
    settings.CACHES["throttle"]["LOCATION"] = url
    database = settings.DATABASES["default"]
    if database["ENGINE"].endswith("sqlite3"):
        # A file, not memory, so worker processes started by tests see the same data; one per run.
        import tempfile

        database["TEST"]["NAME"] = os.path.join(tempfile.mkdtemp(prefix="scheduler-test-"), "test.sqlite3")
    # Hashing five users' passwords per test with PBKDF2 would dominate the suite's time.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    for queue in settings.RQ_QUEUES.values():
        queue["URL"] = url


def pytest_unconfigure(config):
    if _embedded is not None:
        _embedded.__exit__(None, None, None)


@pytest.fixture
def redis_conn():
    """A clean Redis for the test (flushed before and after)."""
    import django_rq

    conn = django_rq.get_connection("default")
    conn.flushdb()
    yield conn
    conn.flushdb()


@pytest.fixture
def cast(db):
    from django.contrib.auth import get_user_model

    from workspaces.models import Membership, Role, Workspace

    User = get_user_model()

    class Cast:
        pass

    c = Cast()
    c.alice = User.objects.create_user("alice", "alice@example.org", "password-alice-1")
    c.bob = User.objects.create_user("bob", "bob@example.org", "password-bob-1")
    c.carol = User.objects.create_user("carol", "carol@example.org", "password-carol-1")
    c.victor = User.objects.create_user("victor", "victor@example.org", "password-victor-1")
    c.charlie = User.objects.create_user("charlie", "charlie@example.org", "password-charlie-1")
    c.workspace = Workspace.objects.create(name="Acme", slug="acme", timezone="Europe/Berlin")
    c.other = Workspace.objects.create(name="Charlie's", slug="charlies", timezone="UTC")
    Membership.objects.create(workspace=c.workspace, user=c.alice, role=Role.OWNER)
    Membership.objects.create(workspace=c.workspace, user=c.bob, role=Role.EDITOR)
    Membership.objects.create(workspace=c.workspace, user=c.carol, role=Role.CONTRIBUTOR)
    Membership.objects.create(workspace=c.workspace, user=c.victor, role=Role.VIEWER)
    Membership.objects.create(workspace=c.other, user=c.charlie, role=Role.OWNER)
    return c
