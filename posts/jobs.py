"""RQ jobs: plain functions taking ids, each handing off to a module that does the work."""

from posts import media, metrics, publishing


def publish_delivery(delivery_id: int) -> str:
    return publishing.publish(delivery_id)


def refresh_metrics() -> dict:
    return metrics.refresh_recent()


def refresh_threads_tokens() -> dict:
    from channels.jobs import refresh_threads_tokens as refresh

    return refresh()


def remove_unused_media() -> int:
    return media.remove_unused()
