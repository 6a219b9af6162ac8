"""The weekly posting times of a channel."""

from django.db import models
from django.db.models import Q

from channels.models import Channel


class PostingSlot(models.Model):
    """A weekly posting time of a channel, in the channel's time zone."""

    channel = models.ForeignKey(Channel, models.CASCADE, related_name="slots")
    weekday = models.PositiveSmallIntegerField()  # 0 = Monday
    time = models.TimeField()

    class Meta:
        ordering = ["weekday", "time"]
        constraints = [
            models.UniqueConstraint(fields=["channel", "weekday", "time"], name="slot_unique_time"),
            models.CheckConstraint(condition=Q(weekday__lte=6), name="slot_weekday_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.get_weekday_display()} {self.time:%H:%M}"

    WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]

    def get_weekday_display(self) -> str:
        return self.WEEKDAYS[self.weekday]
