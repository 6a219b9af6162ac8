"""What the calendar tests share: the calendar page, and the cell each post's chip is drawn in."""

from datetime import date, timedelta
from html.parser import HTMLParser

from django.urls import reverse
from django.utils.timezone import now

from tests.posts.deliveries import BERLIN

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class Cells(HTMLParser):
    """Which calendar cell (its id) each chip (its id) is drawn in."""

    def __init__(self, html: str):
        super().__init__()
        self.stack: list[tuple[str, str | None]] = []
        self.cell_of: dict[str, str] = {}
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag in VOID:
            return
        self.stack.append((tag, attrs.get("id")))
        if tag == "li" and "chip" in (attrs.get("class") or "").split():
            self.cell_of[attrs["id"]] = next(i for t, i in reversed(self.stack) if t == "td")

    def handle_endtag(self, tag):
        while self.stack and self.stack.pop()[0] != tag:
            pass


def calendar(client, **params):
    response = client.get(reverse("posts:calendar", kwargs={"slug": "acme"}), params)
    assert response.status_code == 200
    return response.content.decode()


def cell_of(html, delivery):
    return Cells(html).cell_of.get(f"chip-{delivery.code}")


def a_future_wednesday() -> date:
    today = now().astimezone(BERLIN).date()
    return today - timedelta(days=today.weekday()) + timedelta(days=16)
