"""Scheduling math: the next free posting slots of a channel whose queue is full for a year.

    .venv/bin/python bench/scheduling_math.py --slots-per-day 2 --repeat 20

Seeds one channel with a weekly schedule (N slots a day, in a zone with DST) and one queued delivery
on every slot for the next 365 days, then times posts.scheduling.next_free_slots (the first free
slot after the queue, and the next ten) and reslot_queue (every queued post placed again). The last
line is one JSON object.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime, timedelta
from datetime import time as clock
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import harness, seed  # noqa: E402


def timed(function, repeat: int) -> dict:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - started)
    return {
        "p50_ms": round(harness.percentile(times, 50) * 1000, 2),
        "max_ms": round(max(times) * 1000, 2),
        "result": result,
    }


def run(options) -> dict:
    with harness.environment():
        from django.db import connection

        from channels.models import Channel
        from posts.models import Delivery, Post, PostingSlot, PostPart
        from posts.scheduling import next_free_slots, reslot_queue, slot_times

        owner = seed.make_owner()
        workspace = seed.make_workspaces(owner, 1)[0]
        channel = Channel(
            workspace=workspace,
            network="mastodon",
            remote_id="1",
            handle="@a@x.example",
            server_url="https://x.example",
            timezone="America/New_York",
        )
        channel.set_credentials({"access_token": "x"})
        channel.save()
        hours = [9 + (12 * i) // options.slots_per_day for i in range(options.slots_per_day)]
        slots = [(d, clock(h, 30)) for d in range(7) for h in hours]
        PostingSlot.objects.bulk_create([PostingSlot(channel=channel, weekday=d, time=t) for d, t in slots])
        start = datetime.now(UTC)
        end = start + timedelta(days=365)
        instants = []
        for instant in slot_times(slots, channel.tz, start):
            if instant > end:
                break
            instants.append(instant)
        posts = Post.objects.bulk_create(
            [Post(workspace=workspace, author=owner, status="scheduled", mode="queue") for _ in instants]
        )
        PostPart.objects.bulk_create([PostPart(post=p, index=0, text="queued") for p in posts])
        Delivery.objects.bulk_create(
            [
                Delivery(
                    post=p,
                    channel=channel,
                    status="scheduled",
                    scheduled_for=t,
                    next_attempt_at=t,
                    in_queue=True,
                )
                for p, t in zip(posts, instants, strict=True)
            ]
        )
        one = timed(lambda: next_free_slots(channel, 1, after=start)[0].isoformat(), options.repeat)
        ten = timed(lambda: len(next_free_slots(channel, 10, after=start)), options.repeat)
        reslot = timed(lambda: reslot_queue(channel, after=start), max(1, options.repeat // 5))
        database = connection.vendor
    return {
        "queued": len(instants),
        "slots_per_week": len(slots),
        "database": database,
        "next_free_slot_p50_ms": one["p50_ms"],
        "next_free_slot_max_ms": one["max_ms"],
        "next_10_free_slots_p50_ms": ten["p50_ms"],
        "reslot_queue_p50_ms": reslot["p50_ms"],
        "first_free_slot": one["result"],
    }


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slots-per-day", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=20)
    options = parser.parse_args(argv)
    result = run(options)
    rows = [
        ("queued deliveries (a year of slots)", result["queued"]),
        ("slots per week", result["slots_per_week"]),
        ("database", result["database"]),
        (
            "next free slot p50 / max",
            f"{result['next_free_slot_p50_ms']:.1f} / {result['next_free_slot_max_ms']:.1f} ms",
        ),
        ("next 10 free slots p50", f"{result['next_10_free_slots_p50_ms']:.1f} ms"),
        ("re-slot the whole queue p50", f"{result['reslot_queue_p50_ms']:.1f} ms"),
        ("first free slot", result["first_free_slot"]),
    ]
    print(harness.table(rows, "Scheduling math"))
    harness.emit(result)
    return result


if __name__ == "__main__":
    main()
