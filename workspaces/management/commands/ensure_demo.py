from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from workspaces.models import Membership, Role, Workspace

DEMO_USERNAME = "demo"
DEMO_PASSWORD = "demo-password"


class Command(BaseCommand):
    help = "Create the demo login and its workspace if they do not exist (used by `make run`)."

    def handle(self, *args, **options):
        User = get_user_model()
        with transaction.atomic():
            user, created = User.objects.get_or_create(
                username=DEMO_USERNAME, defaults={"email": "demo@example.com", "first_name": "Demo"}
            )
            if created:
                user.set_password(DEMO_PASSWORD)
                user.save()
            workspace, _ = Workspace.objects.get_or_create(
                slug="demo", defaults={"name": "Demo workspace", "timezone": "Europe/Berlin"}
            )
            Membership.objects.get_or_create(workspace=workspace, user=user, defaults={"role": Role.OWNER})
        if created:
            self.stdout.write(f"Created the demo login: {DEMO_USERNAME} / {DEMO_PASSWORD}")
        else:
            self.stdout.write(f"The demo login exists: {DEMO_USERNAME} (password unchanged)")
