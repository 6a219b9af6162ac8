"""Start-up refuses bad configuration with a message naming the variable."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from scheduler_project.env import database_from_url, email_from_url, env_bool, env_int

ROOT = Path(__file__).resolve().parents[2]
GOOD_KEY = "q0vKXyqgJ6Zr7C3mH5n9pT1sW8uY2bD4fG6hJ8kL0mM="


def start_django(**env) -> subprocess.CompletedProcess:
    """Import the settings in a fresh interpreter with exactly this environment (plus PATH)."""
    clean = {"PATH": os.environ["PATH"], "ENV_FILE": "/nonexistent", **env}
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "import django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', "
            "'scheduler_project.settings'); django.setup(); print('started')",
        ],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
    )


PRODUCTION = {"SECRET_KEY": "x" * 50, "SECRET_ENCRYPTION_KEYS": GOOD_KEY, "ALLOWED_HOSTS": "example.org"}


def test_it_starts_with_a_complete_production_environment():
    result = start_django(**PRODUCTION)
    assert result.returncode == 0, result.stderr
    assert "started" in result.stdout


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"DATABASE_URL": "postgres//nohost"}, "DATABASE_URL"),
        ({"DATABASE_URL": "mysql://u@h/db"}, "DATABASE_URL"),
        ({"SECRET_ENCRYPTION_KEYS": "not-a-key"}, "SECRET_ENCRYPTION_KEYS"),
        ({"SECRET_ENCRYPTION_KEYS": ""}, "SECRET_ENCRYPTION_KEYS"),
        ({"SECRET_KEY": ""}, "SECRET_KEY"),
        ({"DEBUG": "maybe"}, "DEBUG"),
        ({"REDIS_URL": "http://localhost:6379"}, "REDIS_URL"),
        ({"EMAIL_URL": "pigeon://loft"}, "EMAIL_URL"),
        ({"SITE_URL": "example.org"}, "SITE_URL"),
        ({"ALLOWED_HOSTS": ""}, "ALLOWED_HOSTS"),
        ({"PUBLISH_MAX_ATTEMPTS": "lots"}, "PUBLISH_MAX_ATTEMPTS"),
        ({"SIGNUP": "everyone"}, "SIGNUP"),
    ],
)
def test_it_refuses_to_start_with_a_bad_value(env, named):
    result = start_django(**{**PRODUCTION, **env})
    assert result.returncode != 0
    last_line = result.stderr.strip().splitlines()[-1]
    assert "ImproperlyConfigured" in last_line
    assert named in last_line


def test_it_refuses_a_malformed_database_url_with_its_name():
    with pytest.raises(ImproperlyConfigured, match="DATABASE_URL"):
        database_from_url("DATABASE_URL", "postgres://user@host:notaport/db")


def test_it_reads_postgres_and_sqlite_urls():
    pg = database_from_url("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test")
    assert pg["ENGINE"] == "django.db.backends.postgresql"
    assert pg["NAME"] == "test"
    lite = database_from_url("DATABASE_URL", "sqlite:////tmp/x.sqlite3")
    assert lite["OPTIONS"]["transaction_mode"] == "IMMEDIATE"


def test_it_reads_smtp_urls():
    config = email_from_url("EMAIL_URL", "smtp+tls://me%40example.org:p%40ss@mail.example.org")
    assert config["OPTIONS"]["host"] == "mail.example.org"
    assert config["OPTIONS"]["port"] == 587
    assert config["OPTIONS"]["username"] == "me@example.org"
    assert config["OPTIONS"]["password"] == "p@ss"
    assert config["OPTIONS"]["use_tls"] is True
    assert email_from_url("EMAIL_URL", None)["BACKEND"].endswith("console.EmailBackend")


def test_it_parses_booleans_and_integers(monkeypatch):
    monkeypatch.setenv("X_FLAG", "yes")
    assert env_bool("X_FLAG") is True
    monkeypatch.setenv("X_NUM", "0")
    with pytest.raises(ImproperlyConfigured, match="X_NUM must be at least 1"):
        env_int("X_NUM", 5, minimum=1)


def test_it_sends_security_headers_and_a_content_security_policy(client, db):
    response = client.get("/accounts/login/")
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp
    assert "'nonce-" in csp
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    # htmx is served from our static files with the nonce, never from a CDN.
    assert b"htmx" in response.content
    assert b"unpkg" not in response.content and b"cdn" not in response.content.lower()


@pytest.mark.parametrize(
    ("value", "expected"), [(None, "closed"), ("Open", "open"), ("invite-only", "invite-only")]
)
def test_it_reads_the_signup_mode(monkeypatch, value, expected):
    from scheduler_project.env import env_choice

    if value is None:
        monkeypatch.delenv("SIGNUP", raising=False)
    else:
        monkeypatch.setenv("SIGNUP", value)
    assert env_choice("SIGNUP", "closed", choices=("closed", "invite-only", "open")) == expected
