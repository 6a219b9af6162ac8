"""A server that takes the connection and then keeps the client waiting, for deadline tests.

Behaviours:

- ``stall``: reads the request and never answers.
- ``trickle``: answers one byte every ``interval`` seconds from the status line on, and never finishes
  (a client that waits for each next byte, under a per-read timeout, waits forever).
- ``trickle-body``: sends the status line and headers at once, then the body one byte at a time.

It listens on 127.0.0.1 on a free port and stops by itself after ``lifetime`` seconds (closing every
connection), or at the end of the ``with`` block::

    with StallingServer("trickle") as server:
        requests.get(server.url + "/api/v1/instance", timeout=30)
"""

from __future__ import annotations

import socket
import threading

HEAD = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n"
    b"Connection: keep-alive\r\n\r\n"
)
BEHAVIOURS = ("stall", "trickle", "trickle-body")


class StallingServer:
    def __init__(self, behaviour: str = "stall", *, interval: float = 1.0, lifetime: float = 20.0):
        if behaviour not in BEHAVIOURS:
            raise ValueError(f"behaviour must be one of {BEHAVIOURS}")
        self.behaviour = behaviour
        self.interval = interval
        self.lifetime = lifetime
        self.connections = 0
        self._stop = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self.netloc = self.url.removeprefix("http://")

    def __enter__(self) -> StallingServer:
        threading.Thread(target=self._serve, daemon=True).start()
        self._timer = threading.Timer(self.lifetime, self._stop.set)
        self._timer.daemon = True
        self._timer.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._timer.cancel()
        self._stop.set()

    def _serve(self) -> None:
        with self._listener:
            while not self._stop.is_set():
                try:
                    conn, _ = self._listener.accept()
                except TimeoutError:
                    continue
                self.connections += 1
                threading.Thread(target=self._keep_waiting, args=(conn,), daemon=True).start()

    def _keep_waiting(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(0.1)
            received = b""
            while b"\r\n\r\n" not in received and not self._stop.is_set():
                try:
                    chunk = conn.recv(65536)
                except TimeoutError:
                    continue
                if not chunk:
                    return
                received += chunk
            if self.behaviour == "stall":
                self._stop.wait()
                return
            if self.behaviour == "trickle-body":
                conn.sendall(HEAD)
                endless = iter(lambda: b" ", None)
            else:
                endless = (bytes([byte]) for byte in HEAD + b" " * 100000)
            for byte in endless:
                if self._stop.wait(self.interval):
                    return
                try:
                    conn.sendall(byte)
                except OSError:
                    return  # the client gave up
