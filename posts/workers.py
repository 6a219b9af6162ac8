"""An RQ worker process that runs jobs on a bounded pool of threads.

Publishing is waiting on the network: a delivery costs a few milliseconds of CPU and then 100 ms or
more of waiting for Mastodon, Bluesky or Threads to answer. RQ's default worker forks a process per
job and runs one job at a time, so a burst of 1,000 posts due in the same minute needs hundreds of
processes to go out on time. Here one process runs `threads` RQ workers side by side, each a
SimpleWorker in its own thread: it registers in Redis under its own name, dequeues with its own
blocking call, runs one job at a time, and hands unexpected exceptions to RQ's failed-job registry
as any RQ worker does. Nothing else changes: jobs are enqueued to the same queue with the same ids,
and the claim in posts/publishing.py (a conditional UPDATE) keeps every delivery to one publisher
however many threads, processes or machines run.

Each thread has its own database connection (Django's connections are per thread); it is checked
before and released after each job, as Django does around a request, so a restarted database costs
one failed job, not a dead thread. The process's main thread owns the signals: the first SIGTERM or
SIGINT lets every running job finish and stops taking new ones; a second one exits at once (the
dispatcher's sweep recovers whatever was left publishing). A thread whose worker loop ends on an
error (Redis away too long) is replaced.

The process beats in the Heartbeat table (several times per WORKER_LOST_AFTER) and signs each claim
with that name, so when it dies (kill -9, out of memory, a lost machine) the sweeper recovers its
deliveries within WORKER_LOST_AFTER seconds instead of waiting out the job timeout. The pool owns
the Publisher (posts.publishing) its threads publish with: it carries that name, and deliveries a
thread could not settle because the database failed under it are given back by the main thread as
soon as the database answers again (Publisher.give_back_unsettled).
"""

import ctypes
import logging
import os
import signal
import socket
import threading
import time

from django.conf import settings
from django.db import close_old_connections
from django_rq.workers import get_worker
from rq import SimpleWorker, worker_registration
from rq.scheduler import RQScheduler
from rq.timeouts import TimerDeathPenalty

from channels.networks import NETWORKS, adapter_class

log = logging.getLogger(__name__)

# How often an idle worker thread looks up from its blocking dequeue to see whether it should stop.
STOP_CHECK_SECONDS = 2


def limit_malloc_arenas(arenas: int = 2) -> None:
    """Cap glibc's per-thread malloc arenas (MALLOC_ARENA_MAX) before the threads start.

    By default glibc gives each busy thread an arena of its own, up to 8 per core, and the process
    keeps the high-water mark of each. Two shared arenas cost nothing noticeable here (the threads
    mostly wait on the network) and lowered the peak of a 20-thread process in a 600-delivery burst
    from 200 to 185 MB (bench/publish_burst.py).
    """
    if os.environ.get("MALLOC_ARENA_MAX"):
        return  # set by the operator; glibc has already applied it
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return  # not glibc (musl, macOS): nothing to do
    m_arena_max = -8
    libc.mallopt(m_arena_max, arenas)


class ThreadWorker(SimpleWorker):
    """A SimpleWorker that can live in a thread: no signal handlers, thread-safe timeouts."""

    # UnixSignalDeathPenalty (SIGALRM) only works in the main thread; this raises in the job's thread.
    death_penalty_class = TimerDeathPenalty
    # Redis refusing connections (restarting): try again within seconds of it coming back, not a minute.
    max_connection_wait_time = 5.0

    @property
    def connection_timeout(self) -> int:
        """The socket timeout RQ lifts this worker's Redis connection to, if REDIS_TIMEOUT is shorter.

        RQ makes it the dequeue wait plus 10 s (415 s by default), so a Redis that stops answering held
        each thread that long. Ours waits for a job STOP_CHECK_SECONDS at a time (below): a few seconds
        more is enough for any answer, and a hung Redis ends the worker loop with a TimeoutError within
        seconds; the pool starts a new thread, which carries on as soon as Redis answers again.
        """
        return STOP_CHECK_SECONDS + 3

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.stopping = threading.Event()

    def _install_signal_handlers(self):
        pass  # the pool's main thread handles signals for every worker

    def subscribe(self):
        # RQ's pubsub commands (shutdown, kill-horse) would cost a connection and a thread per worker;
        # a pool is stopped with SIGTERM like any process.
        self.pubsub = self.pubsub_thread = None

    def unsubscribe(self):
        pass

    def request_stop_soon(self):
        self._stop_requested = True
        self.stopping.set()

    def dequeue_job_and_maintain_ttl(self, timeout, max_idle_time=None):
        if timeout is None:  # burst mode: RQ returns at once when the queue is empty
            return super().dequeue_job_and_maintain_ttl(timeout, max_idle_time)
        # RQ's loop waits for a job until one comes; come up for air every few seconds to notice a stop.
        while not self._stop_requested:
            result = super().dequeue_job_and_maintain_ttl(
                min(timeout or STOP_CHECK_SECONDS, STOP_CHECK_SECONDS), STOP_CHECK_SECONDS
            )
            if result is not None:
                return result
        return None

    def execute_job(self, job, queue):
        close_old_connections()
        try:
            super().execute_job(job, queue)
        finally:
            close_old_connections()

    def reregister_if_lost(self) -> None:
        """After a Redis flush the worker's registration is gone: write it again so health checks see it."""
        if self.connection.sismember(worker_registration.REDIS_WORKER_KEYS, self.key):
            return
        with self.connection.pipeline() as pipeline:
            pipeline.hset(self.key, mapping=self.serialize())
            worker_registration.register(self, pipeline)
            pipeline.expire(self.key, self.worker_ttl + 60)
            pipeline.execute()


class _ThreadScheduler(RQScheduler):
    """RQ's scheduler loop (enqueue_at / enqueue_in jobs), run in a thread instead of a forked process."""

    def _install_signal_handlers(self):
        pass


class WorkerPool:
    def __init__(self, queues=("default",), threads: int = 20, with_scheduler: bool = False):
        self.queues = list(queues)
        self.threads = threads
        self.with_scheduler = with_scheduler
        self.prefix = f"{socket.gethostname()}.{os.getpid()}"
        self.workers: list[ThreadWorker | None] = [None] * threads
        self.running: list[threading.Thread | None] = [None] * threads
        self.generation = 0
        self.stopping = False
        self.scheduler: _ThreadScheduler | None = None
        self.heartbeat_name = f"worker@{self.prefix}"
        from posts.publishing import Publisher

        self.publisher = Publisher(self.heartbeat_name)

    def _worker(self, slot: int) -> ThreadWorker:
        self.generation += 1
        return get_worker(
            *self.queues, worker_class=ThreadWorker, name=f"{self.prefix}.t{slot}.{self.generation}"
        )

    def _start(self, slot: int) -> None:
        worker = self._worker(slot)
        thread = threading.Thread(target=self._run, args=(worker,), name=f"rq-{slot}", daemon=True)
        self.workers[slot], self.running[slot] = worker, thread
        thread.start()

    def _run(self, worker: ThreadWorker) -> None:
        from posts import publishing

        publishing.bind(self.publisher)  # the jobs of this thread publish with the pool's publisher
        try:
            worker.work(logging_level=logging.getLevelName(log.getEffectiveLevel()))
        except Exception:
            log.exception("worker %s stopped on an error", worker.name)
        finally:
            close_old_connections()

    def stop(self, *args) -> None:
        if self.stopping:
            log.warning("second stop signal: exiting now; the sweep recovers unfinished deliveries")
            os._exit(1)
        self.stopping = True
        for worker in self.workers:
            if worker is not None:
                worker.request_stop_soon()
        if self.scheduler is not None:
            self.scheduler.request_stop()

    def run(self, max_seconds: float | None = None) -> None:
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)
        limit_malloc_arenas()
        close_old_connections()
        # Import the adapters here, before the threads: the first job of each network then does not wait
        # a second for atproto and friends, and what they allocate stays in the main thread's memory
        # arena instead of being spread over the workers' arenas among short-lived job data.
        for network in NETWORKS:
            adapter_class(network)
        beat_every = max(0.5, settings.WORKER_LOST_AFTER / 6)
        self._beat()  # before the first claim: the sweeper must never see a claim by a silent process
        last_beat = time.monotonic()
        for slot in range(self.threads):
            self._start(slot)
        if self.with_scheduler:
            self.scheduler = _ThreadScheduler(self.queues, connection=self.workers[0].connection)
            threading.Thread(target=self._schedule, name="rq-scheduler", daemon=True).start()
        log.info(
            "worker pool %s: %d worker threads, queues %s", self.prefix, self.threads, ", ".join(self.queues)
        )
        started = last_check = time.monotonic()
        while not self.stopping:
            time.sleep(0.5)
            if max_seconds is not None and time.monotonic() - started > max_seconds:
                self.stop()
                break
            if time.monotonic() - last_beat >= beat_every:
                self._beat()
                last_beat = time.monotonic()
            self._give_back_unsettled()
            if time.monotonic() - last_check < 5:
                continue
            last_check = time.monotonic()
            for slot, thread in enumerate(self.running):
                if not self.stopping and thread is not None and not thread.is_alive():
                    log.warning("worker thread %s ended; starting a new one", slot)
                    self._start(slot)
            for worker in self.workers:
                try:
                    worker.reregister_if_lost()
                except Exception as exc:  # Redis away: the worker threads retry on their own
                    log.warning("could not check worker registrations: %s", exc.__class__.__name__)
                    break
        for thread in self.running:
            if thread is not None:
                thread.join()
        self._beat(stopped=True)
        log.info("worker pool %s stopped", self.prefix)

    def _give_back_unsettled(self) -> None:
        if not self.publisher.unsettled:
            return
        try:
            given = self.publisher.give_back_unsettled()
        except Exception as exc:  # the database is still away: try again in half a second
            log.debug("could not give back unsettled claims yet: %s", exc.__class__.__name__)
            close_old_connections()
            return
        log.warning("gave back %d deliveries left unsettled by a database error", given)

    def _beat(self, stopped: bool = False) -> None:
        from posts.dispatch import beat
        from posts.models import Heartbeat

        try:
            if stopped:  # every job has finished: nothing of ours is left to recover
                Heartbeat.objects.filter(name=self.heartbeat_name).delete()
            else:
                beat(self.heartbeat_name, kind="worker")
        except Exception as exc:  # database away: the sweeper may recover our work; claims keep it safe
            log.warning("worker pool %s could not beat: %s", self.prefix, exc.__class__.__name__)
            close_old_connections()

    def _schedule(self) -> None:
        while not self.stopping:
            try:
                self.scheduler.work()
                return
            except Exception:
                log.exception("scheduler stopped on an error; restarting it")
                time.sleep(STOP_CHECK_SECONDS)
