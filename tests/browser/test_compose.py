"""The composer's scripts in a real browser: live checks after a split, each network's options
following the chosen channels, and the warning before leaving unsaved work."""

import uuid

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from channels.models import Channel

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

COMPOSE = reverse("posts:compose", kwargs={"slug": "acme"})


def make_channel(workspace, network):
    return Channel.objects.create(
        workspace=workspace,
        network=network,
        remote_id=str(uuid.uuid4()),
        handle=f"@{network}@example.org",
        server_url="https://example.org",
    )


def open_composer(page) -> None:
    """Log in as alice straight into the composer."""
    page.goto(f"/accounts/login/?next={COMPOSE}")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill("password-alice-1")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"**{COMPOSE}")


def test_it_recounts_every_channel_as_soon_as_a_text_is_split(page, cast):
    threads = make_channel(cast.workspace, "threads")
    text = " ".join(f"Sentence number {n} tells a little more about our spring launch." for n in range(1, 11))
    assert len(text) > 600
    open_composer(page)
    page.locator(f"label[for='ch-{threads.code}']").click()
    page.locator("#text-0").fill(text)
    expect(page.locator("#counters-0")).to_contain_text(f"{len(text)} / 500")
    expect(page.locator("#counters-0")).to_contain_text("too long")

    with page.expect_response(lambda r: "/compose/validate/" in r.url):
        page.get_by_role("button", name="Split into a thread").click()
    expect(page.locator("#text-1")).to_be_visible()
    # Nothing is typed after the split: the new parts are counted and checked all the same.
    for counters in page.locator(".counters").all():
        expect(counters).to_contain_text("/ 500")
        expect(counters).not_to_contain_text("too long")
    panel = page.locator(f"#panel-{threads.code}")
    expect(panel).to_contain_text("Part 2:")
    expect(panel).to_contain_text("Ready")
    expect(panel).not_to_contain_text(f"{len(text)} / 500")


def test_it_shows_each_networks_options_while_one_of_its_channels_is_chosen(page, cast):
    mastodon = make_channel(cast.workspace, "mastodon")
    bluesky = make_channel(cast.workspace, "bluesky")
    open_composer(page)
    warning = page.locator(".option-group[data-network=mastodon]").get_by_label("Content warning")
    link_card = page.get_by_label("Show a link card for the first link (posts without images)")
    topic = page.get_by_label("Topic tag")
    for field in (warning, link_card, topic):
        expect(field).to_be_hidden()
    expect(page.get_by_label("Language")).to_be_visible()

    page.locator(f"label[for='ch-{mastodon.code}']").click()
    expect(warning).to_be_visible()
    expect(page.get_by_label("Who can see it")).to_be_visible()
    expect(link_card).to_be_hidden()
    warning.fill("Spoilers")
    page.locator(f"label[for='ch-{bluesky.code}']").click()
    expect(link_card).to_be_visible()
    expect(topic).to_be_hidden()  # no Threads channel in this workspace at all

    # Unticking hides them and keeps what was typed; ticking again brings it back.
    page.locator(f"label[for='ch-{mastodon.code}']").click()
    expect(warning).to_be_hidden()
    expect(link_card).to_be_visible()
    page.locator(f"label[for='ch-{mastodon.code}']").click()
    expect(warning).to_have_value("Spoilers")
    expect(page.locator(f"#panel-{mastodon.code}")).to_contain_text("Spoilers")

    page.set_viewport_size({"width": 390, "height": 844})  # a phone: the options fit, no sideways scroll
    assert page.evaluate("document.documentElement.scrollWidth") <= 390


def record_dialogs(page, accept: bool) -> list[str]:
    """Answers every dialog (accept: leave the page, or dismiss: stay) and lists their types."""
    seen = []

    def answer(dialog):
        seen.append(dialog.type)
        dialog.accept() if accept else dialog.dismiss()

    page.on("dialog", answer)
    return seen


def test_it_warns_before_leaving_unsaved_changes_only(page, cast):
    threads = make_channel(cast.workspace, "threads")
    open_composer(page)
    dialogs = record_dialogs(page, accept=False)
    queue = page.get_by_role("navigation", name="Workspace").get_by_role("link", name="Queue")

    # Nothing changed: leaving says nothing.
    queue.click()
    page.wait_for_url("**/queue/")
    assert dialogs == []

    # Something typed: leaving asks first, and staying keeps the text.
    page.go_back()
    page.wait_for_url(f"**{COMPOSE}")
    page.locator("#text-0").click()
    page.keyboard.type("Half a thought")
    queue.click()
    expect(page.locator("#text-0")).to_have_value("Half a thought")
    assert dialogs == ["beforeunload"]
    assert page.url.endswith(COMPOSE)

    # Sending the form is not leaving it: no question, and the post is saved.
    page.locator(f"label[for='ch-{threads.code}']").click()
    page.locator("label[for='mode-draft']").click()
    page.get_by_role("button", name="Save draft").click()
    page.wait_for_url(lambda url: "/posts/" in url and "/compose" not in url)
    assert dialogs == ["beforeunload"]


def test_it_warns_before_leaving_a_form_the_server_sent_back(page, cast):
    open_composer(page)
    page.locator("#text-0").fill("No channel chosen")
    page.get_by_role("button", name="Add to queue").click()
    expect(page.get_by_text("The post was not saved")).to_be_visible()
    dialogs = record_dialogs(page, accept=True)
    page.locator("#text-0").click()  # a visit to the page, changing nothing in it
    page.get_by_role("navigation", name="Workspace").get_by_role("link", name="Queue").click()
    page.wait_for_url("**/queue/")
    assert dialogs == ["beforeunload"]  # what the refused form held was not saved
