"""Serve one fake network (tests/fakes) for a benchmark, in a process of its own.

    python bench/fake_network.py --network mastodon --accounts 50

Prints one JSON line when ready: {"url": ..., "accounts": [...credentials to connect each...]}.
Then reads commands on stdin, one per line, answering each with one JSON line:

    latency <ms>   set the answer delay of every request
    dump           {"posts": [[text, created_at], ...], "requests": n}
    quit

Every published post is stamped with this process's time.time() when the fake records it, so
lateness is read from the network's clock, not from our database. The fake's listen backlog is
raised from socketserver's 5 to what real servers use, so a burst of connections is not dropped
and retried by the kernel one second later (which would measure the fake, not us).
"""

import argparse
import json
import os
import sys
import threading
import time
from http.server import ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

ThreadingHTTPServer.request_queue_size = 1024


class StampedList(list):
    """A list that notes when each item was appended."""

    def __init__(self, *args):
        super().__init__(*args)
        self.times = [time.time()] * len(self)

    def append(self, item):
        self.times.append(time.time())
        super().append(item)


class StampedDict(dict):
    """A dict that notes when each key was first set."""

    def __init__(self, *args):
        super().__init__(*args)
        self.times = dict.fromkeys(self, time.time())

    def __setitem__(self, key, value):
        self.times.setdefault(key, time.time())
        super().__setitem__(key, value)


def start(network: str, accounts: int) -> tuple[object, dict]:
    if network == "mastodon":
        from tests.networks.mastodon.fake import FakeMastodon

        fake = FakeMastodon().start()
        creds = []
        for i in range(accounts):
            account = fake.add_account(f"bench{i}")
            creds.append({"token": fake.issue_token(account["id"])})
        fake.statuses = StampedList()
    elif network == "bluesky":
        from tests.networks.bluesky.fake import FakeBluesky

        fake = FakeBluesky().start()
        creds = []
        for i in range(accounts):
            handle = f"bench{i}.test"
            fake.add_account(handle, f"did:plc:bench{i:020d}", "bench-app-pass-word")
            creds.append({"handle": handle, "app_password": "bench-app-pass-word"})
        fake.records = StampedDict(fake.records)
    elif network == "threads":
        from tests.networks.threads.fake import APP_ID, APP_SECRET, FakeThreads

        fake = FakeThreads().start()
        fake.quota_total = 10**9  # the bench measures us, not Meta's daily cap
        creds = []
        for i in range(accounts):
            user_id = fake.add_user(f"bench{i}")
            creds.append({"token": fake.issue_token(user_id)})
        fake.posts = StampedList()
        return fake, {
            "url": fake.url,
            "graph_url": fake.graph_url,
            "app_id": APP_ID,
            "app_secret": APP_SECRET,
            "accounts": creds,
        }
    else:
        raise SystemExit(f"unknown network {network!r}")
    return fake, {"url": fake.url, "accounts": creds}


def dump(network: str, fake) -> dict:
    with fake._lock:
        if network == "mastodon":
            posts = [[s["text"], at] for s, at in zip(fake.statuses, fake.statuses.times, strict=True)]
        elif network == "bluesky":
            posts = [
                [r["value"]["text"], fake.records.times[uri]]
                for uri, r in fake.records.items()
                if "/app.bsky.feed.post/" in uri
            ]
        else:
            posts = [[p["text"], at] for p, at in zip(fake.posts, fake.posts.times, strict=True)]
        return {"posts": posts, "requests": len(fake.requests)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--network", required=True, choices=["mastodon", "bluesky", "threads"])
    parser.add_argument("--accounts", type=int, default=1)
    options = parser.parse_args()
    fake, ready = start(options.network, options.accounts)
    ready["pid"] = os.getpid()
    print(json.dumps(ready), flush=True)
    lock = threading.Lock()
    for line in sys.stdin:
        command, _, argument = line.strip().partition(" ")
        with lock:
            if command == "latency":
                fake.latency = float(argument) / 1000
                answer = {"ok": True}
            elif command == "dump":
                answer = dump(options.network, fake)
            elif command == "quit":
                break
            else:
                answer = {"error": f"unknown command {command!r}"}
        print(json.dumps(answer), flush=True)
    os._exit(0)  # handler threads may still be sleeping; nothing to clean up


if __name__ == "__main__":
    main()
