"""How a network will show a post: the `panel` and `row`s that templates/posts/_preview_<network>.html draw.

The composer builds them as the author types; the approvals and post pages build them from the saved
post, so an approver sees the preview the author saw.
"""

import hashlib
import re

from django.core import signing
from django.urls import reverse

from channels.models import Network

VISIBILITIES = [
    ("public", "Public"),
    ("unlisted", "Quiet public (unlisted)"),
    ("private", "Followers only"),
    ("direct", "Mentioned people only"),
]
VISIBILITY_ICONS = {"public": "🌐", "unlisted": "🔓", "private": "🔒", "direct": "✉"}

_LINK = re.compile(r"https?://[^\s<>\"']+", re.IGNORECASE)
_PREVIEW_TOKEN = re.compile(
    r"(?P<link>https?://[^\s<>\"']+)"
    r"|(?P<mention>(?<![\w@/])@[\w][\w.\-]*(?:@[\w.\-]+)?)"
    r"|(?P<tag>(?<![\w#&/])#\w+)",
    re.IGNORECASE,
)
_TRAILING = ".,;:!?)]}'\""


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
        shown = stripped
        if kind == "link" and network == Network.MASTODON:
            # Mastodon shows links without the scheme, cut after 30 characters.
            bare = re.sub(r"^https?://(www\.)?", "", stripped, flags=re.IGNORECASE)
            shown = bare if len(bare) <= 30 else bare[:30] + "…"
        runs.append((kind, shown))
        last = end
    if last < len(text):
        runs.append(("text", text[last:]))
    return runs


def complete_link(text: str) -> str:
    """The first link that is finished (followed by more text): half-typed addresses are not fetched."""
    for match in _LINK.finditer(text):
        if match.end() < len(text):
            return match.group().rstrip(_TRAILING)
    return ""


def card_url(network: str, text: str, index: int, options: dict) -> str:
    """The link whose card the network would show under this part, as each network decides it."""
    if network == Network.BLUESKY:
        return complete_link(text) if options.get("link_card") else ""
    if network == Network.THREADS:
        return options.get("link_attachment", "") if index == 0 else ""
    return complete_link(text)  # Mastodon fetches a card for the first link itself


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
    visibility = options.get("visibility", "")
    return {
        "channel": channel,
        "network": channel.network,
        "rows": rows,
        "options": options,
        "visibility_icon": VISIBILITY_ICONS.get(visibility, ""),
        "visibility_label": dict(VISIBILITIES).get(visibility, ""),
        "host": host(channel.server_url),
    }
