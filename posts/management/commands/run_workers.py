from django.core.management.base import BaseCommand

from posts.workers import WorkerPool


class Command(BaseCommand):
    help = "Run RQ workers on a pool of threads in this process (publishing waits on the network)."
    # The checks import every URL and view (the API's schemas among them), ~6 MB a worker never uses;
    # `manage.py check` and the web process run them.
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument("queues", nargs="*", default=["default"], help="Queues to work on.")
        parser.add_argument(
            "--threads", type=int, default=20, help="Jobs run at once in this process (default 20)."
        )
        parser.add_argument("--with-scheduler", action="store_true", help="Also run RQ's scheduler.")
        parser.add_argument("--max-seconds", type=float, help="Stop after this long (tests, benchmarks).")

    def handle(self, *args, queues, threads, with_scheduler, max_seconds=None, **options):
        if threads < 1:
            self.stderr.write("--threads must be at least 1")
            raise SystemExit(2)
        WorkerPool(queues or ["default"], threads=threads, with_scheduler=with_scheduler).run(max_seconds)
