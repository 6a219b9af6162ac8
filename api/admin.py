from django.contrib import admin

from api.models import APIToken, CalendarFeed


@admin.register(APIToken)
class APITokenAdmin(admin.ModelAdmin):
    # The secret's hash is not a secret, but it is of no use to anyone reading the admin either.
    list_display = ["name", "hint", "user", "workspace", "created", "last_used", "revoked"]
    list_filter = ["revoked"]
    search_fields = ["name", "user__username", "workspace__name"]
    exclude = ["secret_hash"]
    readonly_fields = ["code", "hint", "workspace", "user", "created", "last_used"]


@admin.register(CalendarFeed)
class CalendarFeedAdmin(admin.ModelAdmin):
    # The token is the feed's only key: never shown here.
    list_display = ["workspace", "channel", "created_by", "created", "revoked"]
    list_filter = ["revoked"]
    exclude = ["token"]
    readonly_fields = ["code", "workspace", "channel", "created_by", "created"]
