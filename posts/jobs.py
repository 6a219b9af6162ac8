"""RQ jobs: plain functions taking ids, each handing off to a module that does the work."""

from posts import media, metrics, publishing


def publish_delivery(delivery_id: int) -> str:
    return publishing.publish(delivery_id)


def refresh_metrics() -> dict:
    return metrics.refresh_recent()


def refresh_credentials() -> dict:
    from channels.jobs import refresh_credentials as refresh

    return refresh()


def refresh_limits() -> dict:
    from channels.limits import refresh_all

    return refresh_all()


def remove_unused_media() -> int:
    return media.remove_unused()
