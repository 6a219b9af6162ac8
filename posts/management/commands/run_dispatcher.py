from django.core.management.base import BaseCommand

from posts.dispatch import Dispatcher


class Command(BaseCommand):
    help = "Hand due deliveries to the RQ workers, sweep up lost work and run periodic tasks, until stopped."
    # The checks import every URL and view, which the dispatcher never uses (see run_workers).
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument("--interval", type=float, help="Seconds between looks for due deliveries.")
        parser.add_argument("--max-seconds", type=float, help="Stop after this long (tests, benchmarks).")

    def handle(self, *args, interval=None, max_seconds=None, **options):
        Dispatcher(interval=interval).run(max_seconds=max_seconds)
