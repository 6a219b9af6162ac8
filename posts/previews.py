"""How a network will show a post: the `panel` and `row`s that networks/<network>/_preview.html draw.

The composer builds them as the author types; the approvals and post pages build them from the saved
post, so an approver sees the preview the author saw.
"""

import hashlib
import re

from django.core import signing
from django.urls import reverse

from channels import networks
from channels.networks.netspec import TRAILING as _TRAILING

_PREVIEW_TOKEN = re.compile(
    r"(?P<link>https?://[^\s<>\"']+)"
    r"|(?P<mention>(?<![\w@/])@[\w][\w.\-]*(?:@[\w.\-]+)?)"
    r"|(?P<tag>(?<![\w#&/])#\w+)",
    re.IGNORECASE,
)


def media_url(media) -> str:
    """Where a page shows an uploaded file: the signed public route serves it without depending on
    MEDIA_URL being served."""
    return reverse("posts:public-media", args=[signing.dumps(str(media.code), salt="media")])


def media_item(media) -> dict:
    return {
        "media": media,
        "thumb_url": media_url(media),
        "alt_text": media.alt_text,
        "missing_alt": not media.alt_text.strip(),
    }


def segments(text: str, network: str) -> list[tuple[str, str]]:
    """Text cut into (kind, text) runs so a preview can colour links, mentions and hashtags."""
    spec = networks.spec(network)
    runs: list[tuple[str, str]] = []
    last = 0
    for match in _PREVIEW_TOKEN.finditer(text):
        kind = match.lastgroup or "text"
        token = match.group()
        start, end = match.start(), match.end()
        stripped = token.rstrip(_TRAILING) if kind in ("link", "mention") else token
        end -= len(token) - len(stripped)
        if start > last:
            runs.append(("text", text[last:start]))
        runs.append((kind, spec.shown_link(stripped) if kind == "link" else stripped))
        last = end
    if last < len(text):
        runs.append(("text", text[last:]))
    return runs


def card_url(network: str, text: str, index: int, options: dict) -> str:
    """The link whose card the network would show under this part, as each network decides it."""
    return networks.spec(network).card_url(text, index, options)


def host(url: str) -> str:
    return re.sub(r"^https?://", "", url or "").split("/")[0]


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def row(
    *, key: str, index: int, text: str, network: str, options: dict, media: list, link_card: bool = True
) -> dict:
    """Part `index` (its text and Media) as the network shows it; `key` keeps its element ids unique
    on the page (a channel's code in the composer, a delivery's on the review pages). With `link_card`
    off, no link card is fetched (the card view is for members who compose)."""
    link = "" if media or not link_card else card_url(network, text, index, options)
    return {
        "number": index + 1,
        "segments": segments(text, network),
        "media": [media_item(m) for m in media],
        "card_url": link,
        # Kept across live updates (hx-preserve) while the link stays the same, so the card is fetched
        # once rather than after every keystroke.
        "card_id": f"card-{key}-{index}-{digest(link)}",
    }


def panel(channel, options: dict, rows: list[dict]) -> dict:
    """A channel's preview: its rows, and what the network shows around them."""
    return {
        "channel": channel,
        "network": channel.network,
        "template": channel.spec.preview_template,
        "rows": rows,
        "options": options,
        "host": host(channel.server_url),
        **channel.spec.preview_extras(options),
    }
