from django.db import migrations, models


class Migration(migrations.Migration):
    """The OAuth apps registered on servers belong to a network (they were all Mastodon's until now)."""

    dependencies = [("channels", "0002_channel_rate_limited_until")]

    operations = [
        migrations.RemoveConstraint(model_name="mastodonapp", name="mastodonapp_unique_domain"),
        migrations.RenameModel(old_name="MastodonApp", new_name="ServerApp"),
        migrations.AddField(
            model_name="serverapp",
            name="network",
            field=models.CharField(
                choices=[("mastodon", "Mastodon"), ("bluesky", "Bluesky"), ("threads", "Threads")],
                default="mastodon",
                max_length=20,
            ),
            preserve_default=False,
        ),
        migrations.AddConstraint(
            model_name="serverapp",
            constraint=models.UniqueConstraint(
                fields=("network", "domain", "redirect_uri"), name="serverapp_unique_domain"
            ),
        ),
    ]
