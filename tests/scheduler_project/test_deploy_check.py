"""`manage.py check --deploy` in a production-like environment warns only about what the README explains."""

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# What the README's Security section explains as a choice left to the operator.
DOCUMENTED = {"security.W005", "security.W021"}

PRODUCTION = {
    "SECRET_KEY": "a-production-like-secret-key-of-sufficient-length-and-variety-8f3k2m9x7q1z",
    "SECRET_ENCRYPTION_KEYS": "Gy0o5W8Nn7W4bDgwGm6a9sYl0bZzq5n7Jm2x1yXbH1A=",
    "ALLOWED_HOSTS": "scheduler.example.org",
    "SITE_URL": "https://scheduler.example.org",
    "EMAIL_URL": "smtp+tls://mailer:password@smtp.example.org:587",
    "DEFAULT_FROM_EMAIL": "scheduler@example.org",
    "BEHIND_PROXY": "1",
    "STATIC_MANIFEST": "0",  # collectstatic has not run in the checkout; it does not change the checks
}


def deploy_warnings(**overrides) -> set[str]:
    # Only what a deployment sets: nothing from the test run's own environment (DEBUG, SSRF_ALLOW_PRIVATE),
    # nor from a developer's .env in the checkout (ENV_FILE names none).
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
    env = {**keep, **PRODUCTION, **overrides, "ENV_FILE": os.devnull, "PYTHONDONTWRITEBYTECODE": "1"}
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    return set(re.findall(r"\((\w+\.[A-Z]\d+)\)", output))


def test_it_warns_only_about_what_the_readme_explains():
    assert deploy_warnings() == DOCUMENTED


def test_the_readme_explains_each_remaining_warning():
    readme = (ROOT / "README.md").read_text()
    for warning in DOCUMENTED:
        assert warning in readme
