"""Invitations keep a SHA-256 of their link's token instead of the token itself.

Links already sent keep working: each stored token is replaced by its hash.
"""

import hashlib

from django.db import migrations, models

import workspaces.models


def hash_tokens(apps, schema_editor):
    Invitation = apps.get_model("workspaces", "Invitation")
    for invitation in Invitation.objects.only("pk", "token").iterator():
        digest = hashlib.sha256(invitation.token.encode("utf-8", "surrogatepass")).hexdigest()
        Invitation.objects.filter(pk=invitation.pk).update(token_hash=digest)


class Migration(migrations.Migration):
    dependencies = [
        ("workspaces", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="invitation",
            name="token_hash",
            field=models.CharField(editable=False, max_length=64, null=True),
        ),
        # Backwards there is no token to restore: unapplying leaves every invitation unopenable.
        migrations.RunPython(hash_tokens, migrations.RunPython.noop),
        migrations.RemoveField(
            model_name="invitation",
            name="token",
        ),
        migrations.AlterField(
            model_name="invitation",
            name="token_hash",
            field=models.CharField(
                default=workspaces.models._unopenable_token_hash, editable=False, max_length=64, unique=True
            ),
        ),
    ]
