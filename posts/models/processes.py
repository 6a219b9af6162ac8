"""The background processes' records: heartbeats and periodic runs."""

from django.db import models
from django.utils.timezone import now


class Heartbeat(models.Model):
    """The pulse of each dispatcher and worker process, for /healthz, the dashboard and the sweeper."""

    name = models.CharField(max_length=200, unique=True)  # "dispatcher@host:pid", "worker@host.pid"
    kind = models.CharField(max_length=30)
    beat = models.DateTimeField(default=now)

    def __str__(self) -> str:
        return self.name


class PeriodicRun(models.Model):
    """When a periodic task last ran; claimed with a conditional update so two dispatchers run it once."""

    name = models.CharField(max_length=100, unique=True)
    last_run = models.DateTimeField()

    def __str__(self) -> str:
        return self.name
