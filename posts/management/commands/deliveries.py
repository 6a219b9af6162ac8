from django.core.management.base import BaseCommand, CommandError
from django.utils.timezone import now

from posts import composing, states
from posts.models import Delivery


class Command(BaseCommand):
    help = "List due, overdue or failed deliveries, or retry one: deliveries {due,overdue,failed,retry CODE}."

    def add_arguments(self, parser):
        parser.add_argument("what", choices=["due", "overdue", "failed", "retry"])
        parser.add_argument("code", nargs="?", help="The delivery's code (for retry).")
        parser.add_argument("--limit", type=int, default=100)

    def handle(self, *args, what, code=None, limit=100, **options):
        if what == "retry":
            if not code:
                raise CommandError("Give the code of the delivery to retry.")
            delivery = Delivery.objects.filter(code=code).select_related("post", "channel").first()
            if delivery is None:
                raise CommandError(f"No delivery with code {code}.")
            try:
                composing.retry(delivery)
            except composing.PostInvalid as exc:
                raise CommandError(str(exc)) from None
            self.stdout.write(f"Delivery {code} will be retried now.")
            return
        queryset = (
            {
                "due": Delivery.objects.due(),
                "overdue": Delivery.objects.overdue(),
                "failed": Delivery.objects.filter(status__in=states.STOPPED),
            }[what]
            .select_related("channel", "post__workspace")
            .order_by("scheduled_for")
        )
        total = queryset.count()
        at = now()
        for d in queryset[:limit]:
            late = f"{(at - d.scheduled_for).total_seconds():.0f}s late" if d.scheduled_for else ""
            self.stdout.write(
                f"{d.code}  {d.status:<16} {d.scheduled_for:%Y-%m-%d %H:%M:%S}Z  {late:>10}  "
                f"{d.post.workspace.slug}/{d.channel.network}:{d.channel.handle}  {d.last_error[:80]}"
            )
        self.stdout.write(f"{total} {what} deliveries" + (f" (first {limit} shown)" if total > limit else ""))
