import pytest

from tests.browser.conftest import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_it_logs_in_and_shows_the_workspace(page, cast, screenshot):
    page.goto("/accounts/login/")
    screenshot("login")
    log_in(page, "alice", "password-alice-1")
    assert page.get_by_role("heading", name="Acme").is_visible()
    screenshot("overview")
    page.get_by_role("link", name="Channels").click()
    page.get_by_role("heading", name="Channels").wait_for()
    screenshot("channels")
    page.get_by_role("link", name="Team").click()
    page.get_by_role("heading", name="Team").wait_for()
    screenshot("team")
