"""What the composer tests share: the form's fields, pieces of the page, and uploads."""

import html
import io
import re

from django.urls import reverse
from PIL import Image


def url(name, **kwargs):
    return reverse(f"posts:{name}", kwargs={"slug": "acme", **kwargs})


def form(channels, *parts, **extra):
    data = {
        "part": list(parts) or ["Hello from the composer"],
        "channels": [str(c.code) for c in channels],
        "mode": "now",
        "zone": "Europe/Berlin",
        "visibility": "public",
        "language": "en",
        "link_card": "1",
    }
    data.update(extra)
    return data


def element(page: str, element_id: str) -> str:
    """The outer HTML of the element with this id: what sits beside a field."""
    start = re.search(rf'<(\w+)\b[^>]*\bid="{re.escape(element_id)}"', page)
    assert start, f"no element #{element_id} on the page"
    tag, depth = start.group(1), 0
    for match in re.finditer(rf"<(/?){tag}\b[^>]*>", page[start.start() :]):
        depth += -1 if match.group(1) else 1
        if depth == 0:
            return page[start.start() : start.start() + match.end()]
    raise AssertionError(f"#{element_id} is not closed")


def textareas(page: str, name: str) -> list[str]:
    pattern = rf'<textarea[^>]*\bname="{re.escape(name)}"[^>]*>\n?(.*?)</textarea>'
    return [html.unescape(v) for v in re.findall(pattern, page, flags=re.DOTALL)]


def checked_channels(page: str) -> set[str]:
    return set(re.findall(r'<input type="checkbox" name="channels" value="([^"]+)"[^>]*\bchecked', page))


def image_bytes(fmt="PNG", size=(40, 30), noise=False) -> bytes:
    image = Image.new("RGB", size, (200, 80, 40))
    if noise:
        image = Image.effect_noise(size, 80).convert("RGB")
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return buffer.getvalue()


def upload(client, content: bytes, name="photo.png", part=0):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return client.post(
        url("media-upload"),
        {"file": SimpleUploadedFile(name, content), "part": str(part)},
        HTTP_HX_REQUEST="true",
    )


def uploaded_code(response) -> str:
    return re.search(r'name="media-\d+" value="([^"]+)"', response.content.decode()).group(1)
