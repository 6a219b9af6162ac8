"""Reading a server's limits (the dict described in rules.py) from the server itself.

/api/v2/instance (Mastodon 4+), else /api/v1/instance with and without the trailing slash (older
Mastodon, Pleroma/Akkoma's max_toot_chars, Pixelfed's max_caption_length), nodeinfo for the
software's name and version (else the version string names it; profiles.py). Connecting stores the
result in Channel.limits; the adapter's read_limits() reads it again the same way.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from mastodon import Mastodon, MastodonAPIError, MastodonError

from channels.deadline import current as current_deadline
from channels.networks.mastodon import profiles
from channels.networks.mastodon.client import api_level, host_of, new_client, version_of
from channels.networks.mastodon.errors import missing
from channels.networks.mastodon.profiles import software_from_version
from channels.networks.mastodon.rules import DEFAULT_LIMITS

log = logging.getLogger(__name__)

# Seconds nodeinfo may take: it is optional, and connecting has its own deadline.
NODEINFO_TIMEOUT = 5.0


def read_server_limits(client: Mastodon, base_url: str) -> dict[str, Any]:
    """The server's limits as the flat dict described in rules.py.

    Network trouble with the instance endpoints raises Mastodon.py's errors; missing endpoints fall
    back to defaults. Nodeinfo is optional: its failures and stalls only leave the software to the
    version string.
    """
    limits = dict(DEFAULT_LIMITS)
    statuses: dict = {}
    media: dict = {}
    info = _instance(client, "/api/v2/instance")
    if info is not None:
        config = info.get("configuration") or {}
        statuses, media = config.get("statuses") or {}, config.get("media_attachments") or {}
        domain = info.get("domain") or ""
    else:
        info = _instance(client, "/api/v1/instance") or _instance(client, "/api/v1/instance/") or {}
        config = info.get("configuration") or {}
        statuses, media = config.get("statuses") or {}, config.get("media_attachments") or {}
        uri = info.get("uri") or ""
        domain = urlsplit(uri).netloc if "://" in uri else uri
        upload_limit = _positive_int(info.get("upload_limit"), None)
        if upload_limit:
            limits["image_size_limit"] = limits["video_size_limit"] = upload_limit
        limits["max_characters"] = _positive_int(info.get("max_toot_chars"), limits["max_characters"])
        # Pixelfed's caption limit
        limits["max_characters"] = _positive_int(info.get("max_caption_length"), limits["max_characters"])
        limits["max_media_attachments"] = _positive_int(
            info.get("max_media_attachments"), limits["max_media_attachments"]
        )
        limits["description_limit"] = _positive_int(
            info.get("description_limit"), limits["description_limit"]
        )
    version = str(info.get("version") or "")
    # Last, so that a stall takes no time from the documents that matter. Without the token: nodeinfo
    # documents may live on other hosts, which have no business seeing it.
    software, software_version = _nodeinfo(base_url, version_of(client))
    if not software:
        software = software_from_version(version)
        software_version = profiles.software_version(version) if software else ""

    limits["max_characters"] = _positive_int(statuses.get("max_characters"), limits["max_characters"])
    limits["max_media_attachments"] = _positive_int(
        statuses.get("max_media_attachments"), limits["max_media_attachments"]
    )
    if "characters_reserved_per_url" in statuses:
        limits["characters_reserved_per_url"] = _positive_int(statuses["characters_reserved_per_url"], 23)
    mime_types = media.get("supported_mime_types")
    if isinstance(mime_types, list) and all(isinstance(t, str) for t in mime_types):
        limits["supported_mime_types"] = mime_types
    limits["image_size_limit"] = _positive_int(media.get("image_size_limit"), limits["image_size_limit"])
    # Mastodon refuses an image of this many pixels or more; servers that do not announce it are not checked.
    limits["image_matrix_limit"] = _positive_int(media.get("image_matrix_limit"), None)
    limits["video_size_limit"] = _positive_int(media.get("video_size_limit"), limits["video_size_limit"])
    limits["description_limit"] = _positive_int(media.get("description_limit"), limits["description_limit"])
    limits["software"] = software
    limits["software_version"] = software_version
    limits["server_version"] = api_level(version)
    limits["domain"] = (domain or host_of(base_url)).lower()
    return limits


def _instance(client: Mastodon, path: str) -> dict | None:
    """One instance document, or None when the server does not have it at this path.

    Asked for by path: Mastodon.py adds a trailing slash, which some servers (Takahē) answer with 404.
    """
    try:
        info = client._Mastodon__api_request("GET", path)
    except MastodonAPIError as exc:
        if not missing(exc):
            raise
        return None
    return info if isinstance(info, dict) else None


def _positive_int(value, default):
    try:
        number = int(value)
    except (TypeError, ValueError):
        return default
    return number if number > 0 else default


def _nodeinfo(base_url: str, version: str) -> tuple[str, str]:
    """nodeinfo's (software name, version); ("", "") when the server has no usable nodeinfo, or it
    fails or stalls (bounded by NODEINFO_TIMEOUT: it must not use up a connect's time)."""
    timeout = min(settings.NETWORK_TIMEOUT, NODEINFO_TIMEOUT)
    deadline = current_deadline()
    if deadline is not None:  # a web request: leave most of its time to the rest
        timeout = min(timeout, max(deadline.left() / 2, 0.1))
    client = new_client(base_url, version=version, timeout=timeout)
    try:
        software = client.instance_nodeinfo().get("software") or {}
        name, number = software.get("name") or "", software.get("version") or ""
    except (MastodonError, OSError, KeyError, TypeError, AttributeError, ValueError) as exc:
        log.info("No usable nodeinfo at %s: %s", host_of(base_url), type(exc).__name__)
        return "", ""
    return str(name).lower(), str(number)[:100]
