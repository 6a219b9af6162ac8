from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "api"
    verbose_name = "REST API and calendar feeds"

    def ready(self):
        from api.models import on_member_left
        from workspaces.signals import member_left

        member_left.connect(on_member_left, dispatch_uid="api.on_member_left")
