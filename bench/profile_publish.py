"""CPU of one delivery, per network: posts.publishing.publish in a loop against the fakes, no latency.

    .venv/bin/python bench/profile_publish.py --deliveries 200 [--profile mastodon|bluesky|threads] [--sql]

Publishes each network's deliveries one after another in this process (no RQ, no dispatcher: those
are measured by publish_burst.py) and prints the CPU time and SQL statements per delivery; with
--profile, a cProfile listing of that network's loop, sorted by cumulative time.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import harness, seed  # noqa: E402
from bench.publish_burst import NETWORKS, Fake  # noqa: E402


def counting(statements: list):
    def wrapper(execute, sql, params, many, context):
        statements.append(sql)
        return execute(sql, params, many, context)

    return wrapper


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deliveries", type=int, default=200, help="per network")
    parser.add_argument("--profile", choices=NETWORKS)
    parser.add_argument("--sql", action="store_true", help="print the SQL of one delivery per network")
    parser.add_argument(
        "--rq",
        action="store_true",
        help="run the jobs through one of run_workers' RQ workers in this process, not publish() directly",
    )
    options = parser.parse_args(argv)
    fakes = {network: Fake(network, 10) for network in NETWORKS}
    threads = fakes["threads"].info
    os.environ.update(
        {
            "THREADS_GRAPH_URL": threads["graph_url"],
            "THREADS_APP_ID": threads["app_id"],
            "THREADS_APP_SECRET": threads["app_secret"],
            "THREADS_MEDIA_REQUIRE_PUBLIC_URL": "0",
        }
    )
    result = {}
    try:
        with harness.environment():
            import django_rq
            from django.db import connection
            from django.utils.timezone import now
            from django_rq.workers import get_worker

            from posts import publishing
            from posts.dispatch import dispatch_due
            from posts.workers import ThreadWorker

            owner = seed.make_owner()
            workspace = seed.make_workspaces(owner, 1)[0]
            for network, fake in fakes.items():
                channels = [
                    seed.connect_channel(workspace, network, fake.info["url"], creds)
                    for creds in fake.info["accounts"]
                ]
                ids = list(seed.burst(owner, channels, options.deliveries, now(), label=network).values())
                dispatch_due(limit=100_000)
                if options.rq:
                    worker = get_worker("default", worker_class=ThreadWorker, name=f"profile-{network}")
                    queue = django_rq.get_queue("default")
                    measured = ids
                else:
                    for pk in ids[:5]:  # imports and first connections
                        publishing.publish(pk)
                    measured = ids[5:]
                statements = []
                profiler = cProfile.Profile() if options.profile == network else None
                with connection.execute_wrapper(counting(statements)):
                    started = time.process_time()
                    if profiler:
                        profiler.enable()
                    if options.rq:
                        worker.work(burst=True, logging_level="WARNING", with_scheduler=False)
                        assert not queue.count, "jobs left in the queue"
                    else:
                        for pk in measured:
                            publishing.publish(pk)
                    if profiler:
                        profiler.disable()
                    cpu = time.process_time() - started
                result[network] = {
                    "cpu_ms_per_delivery": round(cpu * 1000 / len(measured), 2),
                    "sql_per_delivery": round(len(statements) / len(measured), 1),
                }
                if profiler:
                    pstats.Stats(profiler).sort_stats("cumulative").print_stats(40)
                if options.sql:
                    one = len(statements) // len(measured)
                    print(f"-- {network}: the {one} statements of the last delivery")
                    for sql in statements[-one:]:
                        print("  ", sql[:160])
    finally:
        for fake in fakes.values():
            fake.stop()
    rows = [
        (network, f"{r['cpu_ms_per_delivery']:.1f} ms CPU, {r['sql_per_delivery']} SQL statements")
        for network, r in result.items()
    ]
    title = "through an RQ worker" if options.rq else "in posts.publishing.publish (no RQ)"
    print(harness.table(rows, f"CPU per delivery {title}, no latency"))
    harness.emit(result)
    return result


if __name__ == "__main__":
    main()
