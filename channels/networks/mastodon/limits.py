"""Reading a server's limits (the dict described in rules.py) from the server itself.

/api/v2/instance (Mastodon 4+), else /api/v1/instance (older Mastodon, Pleroma/Akkoma's
max_toot_chars), nodeinfo for the software's name. Connecting stores the result in Channel.limits;
the adapter's read_limits() reads it again the same way.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from mastodon import Mastodon, MastodonAPIError, MastodonIllegalArgumentError

from channels.networks.mastodon.client import api_level, host_of, new_client, version_of
from channels.networks.mastodon.errors import missing
from channels.networks.mastodon.rules import DEFAULT_LIMITS


def read_server_limits(client: Mastodon, base_url: str) -> dict[str, Any]:
    """The server's limits as the flat dict described in rules.py.

    Network trouble raises Mastodon.py's errors; missing endpoints fall back to defaults.
    """
    limits = dict(DEFAULT_LIMITS)
    # Without the token: nodeinfo documents may live on other hosts, which have no business seeing it.
    software = _software(new_client(base_url, version=version_of(client)))
    statuses: dict = {}
    media: dict = {}
    try:
        info = client.instance_v2()
        config = info.get("configuration") or {}
        statuses, media = config.get("statuses") or {}, config.get("media_attachments") or {}
        domain = info.get("domain") or ""
    except MastodonAPIError as exc:
        if not missing(exc):
            raise
        try:
            info = client.instance_v1()
        except MastodonAPIError as exc_v1:
            if not missing(exc_v1):
                raise
            info = {}
        config = info.get("configuration") or {}
        statuses, media = config.get("statuses") or {}, config.get("media_attachments") or {}
        domain = urlsplit(info["uri"]).netloc if "://" in (info.get("uri") or "") else (info.get("uri") or "")
        upload_limit = _positive_int(info.get("upload_limit"), None)
        if upload_limit:
            limits["image_size_limit"] = limits["video_size_limit"] = upload_limit
        limits["max_characters"] = _positive_int(info.get("max_toot_chars"), limits["max_characters"])
        limits["max_media_attachments"] = _positive_int(
            info.get("max_media_attachments"), limits["max_media_attachments"]
        )
        limits["description_limit"] = _positive_int(
            info.get("description_limit"), limits["description_limit"]
        )
        if not software:
            software = _software_from_version(info.get("version") or "")
    version = info.get("version") or ""
    software = software or _software_from_version(version) or "mastodon"

    limits["max_characters"] = _positive_int(statuses.get("max_characters"), limits["max_characters"])
    limits["max_media_attachments"] = _positive_int(
        statuses.get("max_media_attachments"), limits["max_media_attachments"]
    )
    if "characters_reserved_per_url" in statuses:
        limits["characters_reserved_per_url"] = _positive_int(statuses["characters_reserved_per_url"], 23)
    elif software in ("pleroma", "akkoma"):
        limits["characters_reserved_per_url"] = None  # they count URLs and mentions as typed
    mime_types = media.get("supported_mime_types")
    if isinstance(mime_types, list) and all(isinstance(t, str) for t in mime_types):
        limits["supported_mime_types"] = mime_types
    limits["image_size_limit"] = _positive_int(media.get("image_size_limit"), limits["image_size_limit"])
    # Mastodon refuses an image of this many pixels or more; servers that do not announce it are not checked.
    limits["image_matrix_limit"] = _positive_int(media.get("image_matrix_limit"), None)
    limits["video_size_limit"] = _positive_int(media.get("video_size_limit"), limits["video_size_limit"])
    limits["description_limit"] = _positive_int(media.get("description_limit"), limits["description_limit"])
    limits["server_software"] = software
    limits["server_version"] = api_level(version)
    limits["domain"] = (domain or host_of(base_url)).lower()
    return limits


def _positive_int(value, default):
    try:
        number = int(value)
    except (TypeError, ValueError):
        return default
    return number if number > 0 else default


def _software(client: Mastodon) -> str:
    """nodeinfo's software name, or "" when the server has no usable nodeinfo."""
    try:
        nodeinfo = client.instance_nodeinfo()
        name = (nodeinfo.get("software") or {}).get("name") or ""
    except MastodonAPIError as exc:
        if not missing(exc):
            raise
        return ""
    except (MastodonIllegalArgumentError, KeyError, TypeError, AttributeError):
        return ""  # no nodeinfo 2.0 link, or a document of another shape
    return str(name).lower()


def _software_from_version(version: str) -> str:
    match = re.search(r"compatible; (\w+)", version)
    return match.group(1).lower() if match else ""
