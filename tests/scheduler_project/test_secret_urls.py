"""Secret URLs (feeds, invitations, password resets, signed media) never reach a log line whole."""

import io
import logging
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.core import signing
from django.urls import reverse

from scheduler_project.secret_urls import mask_secret_urls

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "Zq8v3LrT0kxY-secret_Token-9aBcDeFgHiJ"


def secret_paths() -> dict[str, tuple[str, str]]:
    """Each kind of secret URL as the site builds it, with the secret in it."""
    media = signing.dumps("8c1b6f5e-8f0a-4a9e-9d52-0d2c1f0b7a11", salt="media")
    return {
        "feed": (reverse("api:ical-feed", kwargs={"token": TOKEN}), TOKEN),
        "invitation": (reverse("workspaces:accept-invitation", args=[TOKEN]), TOKEN),
        "password reset": (
            reverse("password_reset_confirm", kwargs={"uidb64": "MTI", "token": "cz9b1k-" + TOKEN[:20]}),
            "cz9b1k-" + TOKEN[:20],
        ),
        "signed media": (reverse("posts:public-media", args=[media]), media),
    }


@pytest.mark.parametrize("kind", ["feed", "invitation", "password reset", "signed media"])
def test_it_masks_each_kind_of_secret_url(kind):
    path, secret = secret_paths()[kind]
    for line in (
        f'127.0.0.1 - - [05/Dec/2026:10:00:00 +0000] "GET {path} HTTP/1.1" 200 512 "-" "Calendar/1.0"',
        f'"GET /static/app.css HTTP/1.1" 200 10 "https://scheduler.example.org{path}" "Firefox"',
        f"Not Found: {path}",
    ):
        masked = mask_secret_urls(line)
        assert secret not in masked
        assert "[secret]" in masked
        # What stays tells the reader which kind of page was asked for.
        assert path.split(secret)[0] in masked


def test_it_keeps_ordinary_paths_whole():
    for line in (
        '"GET /w/m/queue/?page=2 HTTP/1.1" 200',
        '"GET /accounts/reset/MTI/set-password/ HTTP/1.1" 200',
        '"GET /api/v1/posts HTTP/1.1" 200',
        "Not Found: /w/acme/calendar/",
    ):
        assert mask_secret_urls(line) == line


def test_it_masks_djangos_request_log(client, db):
    # The handler settings.LOGGING sends every line to, writing into a buffer for the test.
    (console,) = [h for h in logging.getLogger().handlers if h.get_name() == "console"]
    buffer = io.StringIO()
    previous = console.setStream(buffer)
    try:
        path, secret = secret_paths()["invitation"]
        assert client.get(path).status_code == 404
    finally:
        console.setStream(previous)
    assert "Not Found: /invite/[secret]/" in buffer.getvalue()
    assert secret not in buffer.getvalue()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _procfile_web_command(env: dict) -> list[str]:
    line = next(line for line in (ROOT / "Procfile").read_text().splitlines() if line.startswith("web:"))
    command = re.sub(
        r"\$\{(\w+):-([^}]*)\}", lambda m: env.get(m.group(1), m.group(2)), line.removeprefix("web:")
    )
    args = shlex.split(command)
    assert args[0] == "gunicorn"
    return [str(Path(sys.executable).with_name("gunicorn")), *args[1:]]


def test_gunicorn_writes_no_feed_token_to_its_access_log(tmp_path):
    port = _free_port()
    env = {
        **os.environ,
        "WEB_BIND": "127.0.0.1",
        "PORT": str(port),
        "WEB_CONCURRENCY": "1",
        "DEBUG": "1",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'empty.sqlite3'}",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    command = _procfile_web_command(env)
    assert "-c" in command  # the Procfile loads scheduler_project/gunicorn_conf.py
    server = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        url = f"http://127.0.0.1:{port}/ical/{TOKEN}.ics"
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(url, timeout=10)
                break
            except urllib.error.HTTPError:
                break  # answered (an empty database makes it a 500): it has been logged
            except OSError:
                assert server.poll() is None, server.communicate()
                assert time.monotonic() < deadline, "gunicorn did not start"
                time.sleep(0.2)
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            out, err = server.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            out, err = server.communicate()
    access = [line for line in out.splitlines() if "/ical/" in line]
    assert access, out
    assert '"GET /ical/[secret].ics HTTP/1.1"' in access[0]
    assert TOKEN not in out
    assert TOKEN not in err
