from django.apps import apps
from django.core.management.base import BaseCommand
from django.db import transaction

from channels.crypto import EncryptedTextField


class Command(BaseCommand):
    help = "Re-encrypt every stored secret under the newest key in SECRET_ENCRYPTION_KEYS."

    def handle(self, *args, **options):
        total = 0
        for model in apps.get_models():
            fields = [f for f in model._meta.get_fields() if isinstance(f, EncryptedTextField)]
            if not fields:
                continue
            names = [f.attname for f in fields]
            count = 0
            # values_list goes through the field's from_db_value, so the values arrive decrypted (by
            # whichever key they were under); writing them back encrypts them under the newest key.
            rows = model._base_manager.values_list("pk", *names)
            for pk, *values in rows.iterator(chunk_size=500):
                updates = {name: value for name, value in zip(names, values, strict=True) if value}
                if not updates:
                    continue
                with transaction.atomic():
                    model._base_manager.filter(pk=pk).update(**updates)
                count += 1
            total += count
            self.stdout.write(f"{model._meta.label}: {count} row(s) re-encrypted")
        self.stdout.write(self.style.SUCCESS(f"Done: {total} row(s) re-encrypted under the newest key."))
