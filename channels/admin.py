from django.contrib import admin

from channels.models import Channel


@admin.register(Channel)
class ChannelAdmin(admin.ModelAdmin):
    # Never list or edit credentials here: they are secrets.
    list_display = ["handle", "network", "workspace", "status", "server_url", "updated"]
    list_filter = ["network", "status"]
    search_fields = ["handle", "display_name"]
    exclude = ["credentials"]
    readonly_fields = ["remote_id", "limits", "limits_read", "token_expires", "last_error"]
