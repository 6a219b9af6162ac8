"""Dashboard at scale: server time and SQL queries of the main pages with 100,000 posts in the database.

    .venv/bin/python bench/dashboard.py --posts 100000 --channels 500 --workspaces 20 --requests 20

Seeds its own database (see bench/harness.py) with bulk inserts: the workspaces, their channels
(14 posting slots a week each) and, per channel, a year of history: published posts, a queue of
scheduled posts on the channel's slots, a few drafts and failures. Then, logged in as the owner of
one of the big workspaces, it requests each page N times with Django's test client and reports the
median and 95th percentile of the server time, and the number of SQL queries, next to the same page
in a workspace with ten posts (a count that grows with the data shows as two different numbers).
Pages whose URL name does not exist (yet) are listed as skipped. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from datetime import time as clock
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import harness, seed  # noqa: E402

NETWORKS = ("mastodon", "bluesky", "threads")
SLOTS = [(weekday, clock(hour, 0)) for weekday in range(7) for hour in (9, 17)]

# (label, URL name, kwargs kind, query string). kwargs kind: "slug", "slug+channel", "slug+post".
PAGES = [
    ("composer", "posts:compose", "slug", ""),
    ("queue", "posts:queue", "slug", ""),
    ("channel queue", "posts:channel-queue", "slug+channel", ""),
    ("calendar week", "posts:calendar", "slug", "?view=week"),
    ("calendar month", "posts:calendar", "slug", "?view=month"),
    ("published", "posts:published", "slug", ""),
    ("failed", "posts:failed", "slug", ""),
    ("approvals", "posts:approvals", "slug", ""),
    ("post detail", "posts:detail", "slug+post", ""),
    ("workspace overview", "workspaces:overview", "slug", ""),
]
API = [
    ("API posts", "/api/v1/posts"),
    ("API deliveries", "/api/v1/deliveries"),
    ("API channels", "/api/v1/channels"),
    ("API channel queue", "/api/v1/channels/{channel}/queue"),
]


def seed_scale(owner, *, posts: int, channels: int, workspaces: int, prefix: str = "scale") -> dict:
    """Bulk-insert the data set; returns counts and timings."""
    from channels.models import Channel
    from posts.models import Delivery, Post, PostingSlot, PostPart
    from posts.scheduling import slot_times

    started = time.monotonic()
    rng = random.Random(42)
    spaces = seed.make_workspaces(owner, workspaces, prefix=prefix)
    channel_rows = []
    for i in range(channels):
        network = NETWORKS[i % 3]
        row = Channel(
            workspace=spaces[i % len(spaces)],
            network=network,
            remote_id=f"{network}-{i}",
            handle=f"@brand{i}@{network}.example",
            server_url="" if network == "threads" else f"https://{network}.example",
            timezone=rng.choice(["", "America/New_York", "Asia/Tokyo", "Europe/Berlin"]),
        )
        row.set_credentials({"access_token": f"token-{i}"})
        channel_rows.append(row)
    Channel.objects.bulk_create(channel_rows, batch_size=seed.BATCH)
    channel_list = list(
        Channel.objects.filter(workspace__in=spaces).select_related("workspace").order_by("id")
    )
    PostingSlot.objects.bulk_create(
        [PostingSlot(channel=c, weekday=d, time=t) for c in channel_list for d, t in SLOTS],
        batch_size=seed.BATCH,
    )

    at = datetime.now(UTC).replace(microsecond=0)
    per_channel = max(1, posts // len(channel_list))
    plan = []  # (channel, status, when, in_queue)
    for channel in channel_list:
        future = slot_times(SLOTS, channel.tz, at)
        for _ in range(per_channel):
            roll = rng.random()
            if roll < 0.6:
                plan.append(
                    (channel, "published", at - timedelta(minutes=rng.randint(10, 365 * 24 * 60)), False)
                )
            elif roll < 0.9:
                plan.append((channel, "scheduled", next(future), True))
            elif roll < 0.95:
                plan.append((channel, "draft", None, False))
            else:
                plan.append((channel, "failed", at - timedelta(minutes=rng.randint(10, 60 * 24 * 30)), False))
    post_status = {"published": "published", "scheduled": "scheduled", "draft": "draft", "failed": "failed"}
    for start in range(0, len(plan), seed.BATCH):
        chunk = plan[start : start + seed.BATCH]
        created = Post.objects.bulk_create(
            [
                Post(
                    workspace_id=channel.workspace_id,
                    author=owner,
                    status=post_status[status],
                    mode="draft" if status == "draft" else ("queue" if in_queue else "at"),
                    created=(when or at) - timedelta(days=1),
                )
                for channel, status, when, in_queue in chunk
            ]
        )
        PostPart.objects.bulk_create(
            [
                PostPart(
                    post=p,
                    index=0,
                    text=f"Post {start + j}: news from the brand, with a link https://example.org/{j}",
                )
                for j, p in enumerate(created)
            ]
        )
        Delivery.objects.bulk_create(
            [
                Delivery(
                    post=p,
                    channel=channel,
                    status=status,
                    scheduled_for=when,
                    next_attempt_at=when if status == "scheduled" else None,
                    in_queue=in_queue,
                    attempts=1 if status in ("published", "failed") else 0,
                    published_at=when if status == "published" else None,
                    remote_url=f"https://{channel.network}.example/p/{p.pk}" if status == "published" else "",
                    remote_parts=[{"id": str(p.pk), "url": ""}] if status == "published" else [],
                    last_error="The network refused the post." if status == "failed" else "",
                )
                for p, (channel, status, when, in_queue) in zip(created, chunk, strict=True)
            ]
        )
    return {
        "workspaces": len(spaces),
        "channels": len(channel_list),
        "posts": len(plan),
        "seed_s": round(time.monotonic() - started, 1),
    }


def measure(client, url: str, requests: int, headers=None) -> dict:
    from django.db import connection

    headers = headers or {}
    response = client.get(url, **headers)  # warm caches (templates, URL resolver)
    queries = []

    def count(execute, sql, params, many, context):
        # Counted at the driver, because the request_started signal empties Django's own query log.
        queries.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count):
        response = client.get(url, **headers)
    times = []
    for _ in range(requests):
        started = time.perf_counter()
        client.get(url, **headers)
        times.append(time.perf_counter() - started)
    return {
        "status": response.status_code,
        "queries": len(queries),
        "p50_ms": round(harness.percentile(times, 50) * 1000, 1),
        "p95_ms": round(harness.percentile(times, 95) * 1000, 1),
    }


def run(options) -> dict:
    with harness.environment(keep=options.keep) as env:
        from django.conf import settings
        from django.db import connection
        from django.test import Client
        from django.urls import NoReverseMatch, reverse

        from channels.models import Channel
        from posts.models import Post

        settings.API_RATE_LIMIT_PER_MINUTE = 10**9  # the bench is one client hammering on purpose
        owner = seed.make_owner()
        data = seed_scale(
            owner, posts=options.posts, channels=options.channels, workspaces=options.workspaces
        )
        seed_scale(owner, posts=10, channels=2, workspaces=1, prefix="small")
        if connection.vendor == "postgresql":
            # Bulk inserts leave the planner without statistics (and the visibility map unset) until
            # autovacuum has visited the new rows, within a minute or so in production: measure the
            # pages as they are once it has, not in the minute after a bulk load.
            with connection.cursor() as cursor:
                cursor.execute("VACUUM ANALYZE")
        if options.keep:
            print(f"Database kept: {env['DATABASE_URL']}", file=sys.stderr)
        targets = {"large": "scale-0", "small": "small-0"}
        client = Client()
        client.force_login(owner)
        api_headers = {}
        try:
            from api.models import APIToken

            tokens = {}
            for size, slug in targets.items():
                from workspaces.models import Workspace

                _, secret = APIToken.issue(
                    workspace=Workspace.objects.get(slug=slug), user=owner, name="bench"
                )
                tokens[size] = {"HTTP_AUTHORIZATION": f"Bearer {secret}"}
            api_headers = tokens
        except ImportError:
            pass

        results, skipped = [], []
        for label, name, kind, query in PAGES:
            row = {"page": label, "url_name": name}
            for size, slug in targets.items():
                kwargs = {"slug": slug}
                if kind == "slug+channel":
                    kwargs["code"] = Channel.objects.filter(workspace__slug=slug).order_by("id").first().code
                elif kind == "slug+post":
                    kwargs["code"] = (
                        Post.objects.filter(workspace__slug=slug, status="published").first().code
                    )
                try:
                    url = reverse(name, kwargs=kwargs) + query
                except NoReverseMatch:
                    skipped.append(f"{label} ({name} does not exist)")
                    break
                row[size] = measure(client, url, options.requests if size == "large" else 2)
            else:
                results.append(row)
        for label, path in API:
            if not api_headers:
                skipped.append(f"{label} (no API)")
                continue
            row = {"page": label, "url_name": path}
            for size, slug in targets.items():
                channel = Channel.objects.filter(workspace__slug=slug).order_by("id").first()
                row[size] = measure(
                    client,
                    path.format(channel=channel.code),
                    options.requests if size == "large" else 2,
                    api_headers[size],
                )
            results.append(row)
    return {"data": data, "pages": results, "skipped": skipped}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=100_000)
    parser.add_argument("--channels", type=int, default=500)
    parser.add_argument("--workspaces", type=int, default=20)
    parser.add_argument("--requests", type=int, default=20, help="timed requests per page")
    parser.add_argument(
        "--keep", action="store_true", help="keep the seeded database (and its URL) for EXPLAIN ANALYZE"
    )
    options = parser.parse_args(argv)
    result = run(options)
    data = result["data"]
    print(
        f"Dashboard at scale: {data['posts']:,} posts, {data['channels']} channels, {data['workspaces']} "
        f"workspaces (seeded in {data['seed_s']} s); one workspace of "
        f"{data['posts'] // data['workspaces']:,} posts measured, {options.requests} requests per page"
    )
    header = (
        f"{'page':<20} {'status':>6} {'p50 ms':>8} {'p95 ms':>8} {'queries':>8} {'queries (10 posts)':>19}"
    )
    print(header)
    print("-" * len(header))
    for row in result["pages"]:
        large, small = row["large"], row["small"]
        grows = "  <- grows" if large["queries"] != small["queries"] else ""
        print(
            f"{row['page']:<20} {large['status']:>6} {large['p50_ms']:>8.1f} {large['p95_ms']:>8.1f} "
            f"{large['queries']:>8} {small['queries']:>19}{grows}"
        )
    for note in result["skipped"]:
        print(f"skipped: {note}")
    harness.emit(result)
    return result


if __name__ == "__main__":
    main()
