"""First run in a real browser: a visitor signs up (SIGNUP=open), creates a workspace and meets the
checklist; a contributor who opens a page beyond their role gets the 403 page with the reason."""

import re

import pytest
from django.urls import reverse

from tests.browser.conftest import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def fits_the_phone(page) -> bool:
    page.set_viewport_size({"width": 390, "height": 844})
    fits = page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.set_viewport_size({"width": 1280, "height": 900})
    return fits


def test_a_visitor_signs_up_creates_a_workspace_and_sees_the_first_steps(page, screenshot, settings):
    settings.SIGNUP = "open"
    page.goto(reverse("login"))
    page.get_by_role("link", name="Create an account").click()
    page.get_by_role("heading", name="Create an account").wait_for()
    assert fits_the_phone(page)
    screenshot("signup")
    page.get_by_label("Username").fill("dana")
    page.get_by_label("Email address").fill("dana@example.org")
    page.get_by_label(re.compile(r"^Password:?$")).fill("a-long-enough-passphrase")
    page.get_by_label("Password confirmation").fill("a-long-enough-passphrase")
    page.get_by_role("button", name="Create account").click()

    page.get_by_role("heading", name="New workspace").wait_for()
    assert page.get_by_text("Welcome! Create your first workspace to start.").is_visible()
    page.get_by_label("Name").fill("Dana's Shop")
    page.get_by_role("button", name="Create workspace").click()

    page.get_by_role("heading", name="Dana's Shop").wait_for()
    checklist = page.get_by_role("region", name="Get started")
    steps = checklist.get_by_role("listitem")
    assert steps.count() == 3
    for label in ("Connect a channel", "Set posting times", "Write your first post"):
        assert "To do" in steps.filter(has_text=label).inner_text()
    assert fits_the_phone(page)
    screenshot("first-run-checklist")
    checklist.get_by_role("link", name="Connect a channel").click()
    page.get_by_role("heading", name="Channels").wait_for()


def test_a_contributor_sees_why_a_page_is_refused(page, screenshot, cast, live_server):
    log_in(page, "carol", "password-carol-1")
    url = reverse("workspaces:settings", kwargs={"slug": "acme"})
    response = page.goto(url)
    assert response.status == 403
    assert page.get_by_role("heading", name="You cannot do this").is_visible()
    assert page.get_by_text("Your role (Contributor) cannot do this.").is_visible()
    assert fits_the_phone(page)
    screenshot("forbidden")
    # The refusal is what this test expects: only it may be in the list of errors.
    expected = {
        f"403 {live_server.url}{url}",
        "Failed to load resource: the server responded with a status of 403 (Forbidden)",
    }
    page.recorded_errors[:] = [e for e in page.recorded_errors if e not in expected]
    page.get_by_role("link", name="Back to the workspace overview").click()
    page.get_by_role("heading", name="Acme").wait_for()
