"""Read a web page's preview (OpenGraph title, description and image) for a link card.

Networks that do not unfurl links themselves (Bluesky) need the card built by the poster. Pages are
fetched through channels.http.fetch, so the SSRF guard, the timeout and the size cap apply.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import urljoin

from channels.http import FetchError, fetch

MAX_PAGE_BYTES = 2_000_000
MAX_IMAGE_BYTES = 10_000_000
_HTML_TYPES = ("text/html", "application/xhtml+xml", "")
_CHARSET = re.compile(rb"charset=[\"']?([A-Za-z0-9_.:-]+)", re.IGNORECASE)


@dataclass
class LinkPreview:
    url: str
    title: str
    description: str
    image_url: str = ""


class _HeadParser(HTMLParser):
    """Collects <meta> tags and the <title> until the page body starts."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.meta: dict[str, str] = {}
        self.title = ""
        self._in_title = False
        self.done = False

    def handle_starttag(self, tag, attrs):
        if self.done:
            return
        if tag == "meta":
            values = dict(attrs)
            key = (values.get("property") or values.get("name") or "").strip().lower()
            content = values.get("content")
            if key and content is not None and key not in self.meta:
                self.meta[key] = content.strip()
        elif tag == "title":
            self._in_title = True
        elif tag == "body":
            self.done = True

    def handle_endtag(self, tag):
        if tag == "title":
            self._in_title = False
        elif tag == "head":
            self.done = True

    def handle_data(self, data):
        if self._in_title and not self.done:
            self.title += data


def _charset(content: bytes) -> str:
    """The encoding the page declares in its first bytes; UTF-8 otherwise."""
    match = _CHARSET.search(content[:2048])
    if match:
        name = match.group(1).decode("ascii")
        try:
            codecs.lookup(name)
            return name
        except LookupError:
            pass
    return "utf-8"


def parse_preview(url: str, html: str, *, base_url: str = "") -> LinkPreview | None:
    """The card for a page, or None when the page has no title at all.

    `base_url` is where the page was finally found (after redirects), for relative image addresses.
    """
    parser = _HeadParser()
    parser.feed(html)
    meta = parser.meta
    title = meta.get("og:title") or meta.get("twitter:title") or " ".join(parser.title.split())
    if not title:
        return None
    description = (
        meta.get("og:description") or meta.get("twitter:description") or meta.get("description") or ""
    )
    image = meta.get("og:image") or meta.get("og:image:url") or meta.get("twitter:image") or ""
    return LinkPreview(
        url=url,
        title=title[:300],
        description=" ".join(description.split())[:1000],
        image_url=urljoin(base_url or url, image) if image else "",
    )


def fetch_preview(url: str, *, timeout: float) -> LinkPreview | None:
    """Fetch the page and read its preview. Raises FetchError or UnsafeURL when it cannot be read."""
    page = fetch(url, timeout=timeout, max_bytes=MAX_PAGE_BYTES, accept="text/html,application/xhtml+xml")
    if page.content_type not in _HTML_TYPES:
        return None
    html = page.content.decode(_charset(page.content), errors="replace")
    return parse_preview(url, html, base_url=page.url)


def fetch_image(url: str, *, timeout: float) -> bytes:
    image = fetch(url, timeout=timeout, max_bytes=MAX_IMAGE_BYTES, accept="image/*")
    if not image.content_type.startswith("image/"):
        raise FetchError("The link preview image is not an image.")
    return image.content
