"""Where a form may send the user back to: only a page of this site."""

import pytest
from django.test import RequestFactory

from workspaces.access import safe_next


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda rf: rf.post("/x/", {"next": "/w/acme/queue/"}), "/w/acme/queue/"),
        (lambda rf: rf.get("/x/", {"next": "/w/acme/calendar/?week=2"}), "/w/acme/calendar/?week=2"),
        (lambda rf: rf.post("/x/", {"next": "https://evil.example/"}), "/fallback/"),
        (lambda rf: rf.post("/x/", {"next": "//evil.example/path"}), "/fallback/"),
        (lambda rf: rf.post("/x/", {"next": "javascript:alert(1)"}), "/fallback/"),
        (
            lambda rf: rf.post("/x/", {"next": "http://testserver/w/acme/"}, secure=True),
            "/fallback/",
        ),
        (lambda rf: rf.post("/x/"), "/fallback/"),
    ],
)
def test_it_returns_only_to_pages_of_this_site(make, expected):
    assert safe_next(make(RequestFactory()), "/fallback/") == expected
