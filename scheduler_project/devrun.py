"""`make run`: set up on first use and run web + worker + dispatcher under one supervisor.

- Writes a .env with a fresh SECRET_KEY and encryption key (and DEBUG=1) if there is none.
- Starts an embedded Redis when REDIS_URL is not set, and stops it on exit.
- Migrates the database (SQLite by default) and creates the demo login if absent.
- Runs the Procfile through honcho; Ctrl-C stops everything.
"""

import os
import secrets
import signal
import subprocess
import sys
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
ENV_FILE = BASE_DIR / ".env"


def ensure_env_file() -> None:
    if ENV_FILE.exists():
        return
    from cryptography.fernet import Fernet

    ENV_FILE.write_text(
        "# Written by `make run` for local use. See .env.example for every setting.\n"
        "DEBUG=1\n"
        f"SECRET_KEY={secrets.token_urlsafe(50)}\n"
        f"SECRET_ENCRYPTION_KEYS={Fernet.generate_key().decode()}\n"
    )
    ENV_FILE.chmod(0o600)
    print(f"Wrote {ENV_FILE.name} with fresh keys for local use.")


def read_env_file() -> dict[str, str]:
    values = {}
    for line in ENV_FILE.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def manage(*args: str, env: dict) -> None:
    subprocess.run([sys.executable, "manage.py", *args], cwd=BASE_DIR, env=env, check=True)


def main() -> int:
    ensure_env_file()
    env = {**read_env_file(), **os.environ}
    # The Procfile's `python` and `gunicorn` must be this virtualenv's.
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    env.setdefault("WEB_BIND", "127.0.0.1")
    if not env.get("DATABASE_URL"):
        # SQLite has one write lock: a few worker threads are plenty for trying it out.
        env.setdefault("WORKER_THREADS", "4")
    port = env.get("PORT", "8000")
    env.setdefault("SITE_URL", f"http://localhost:{port}")

    from contextlib import ExitStack

    with ExitStack() as stack:
        if not env.get("REDIS_URL"):
            from scheduler_project.embedded_redis import embedded_redis

            env["REDIS_URL"] = stack.enter_context(embedded_redis())
            print(f"Started an embedded Redis at {env['REDIS_URL']} (set REDIS_URL to use your own).")
        manage("migrate", "--noinput", env=env)
        manage("ensure_demo", env=env)
        print(f"\n  Open {env['SITE_URL']}/  and log in as  demo / demo-password\n", flush=True)
        honcho = subprocess.Popen(
            [sys.executable, "-m", "honcho", "start", "-f", str(BASE_DIR / "Procfile"), "-p", port],
            cwd=BASE_DIR,
            env=env,
        )
        try:
            return honcho.wait()
        except KeyboardInterrupt:
            honcho.send_signal(signal.SIGINT)
            try:
                return honcho.wait(15)
            except subprocess.TimeoutExpired:
                honcho.kill()
                return 1


if __name__ == "__main__":
    sys.exit(main())
