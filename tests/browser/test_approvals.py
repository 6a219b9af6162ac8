"""Approving what will really go out: a contributor submits a post with its own Mastodon text and an image;
the editor sees that text, the image and Mastodon's preview, approves; the contributor is told."""

import io

import pytest
from django.urls import reverse
from PIL import Image

from posts.models import Notification, Post
from tests.browser.conftest import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

MAIN = "Our spring sale starts on Monday at the shop."
OWN = "Spring sale from Monday, in the shop and online #fediverse"
ALT = "Tulips in a blue vase on a wooden table"


def png(tmp_path):
    path = tmp_path / "tulips.png"
    buffer = io.BytesIO()
    Image.new("RGB", (320, 240), (30, 120, 200)).save(buffer, "PNG")
    path.write_bytes(buffer.getvalue())
    return path


def switch_user(page, username: str, password: str) -> None:
    page.context.clear_cookies()
    log_in(page, username, password)


def test_an_editor_approves_what_will_go_out_and_the_author_is_told(
    page, screenshot, cast, mastodon_channel, fake_mastodon, tmp_path, settings
):
    settings.MEDIA_ROOT = tmp_path / "media"
    code = mastodon_channel.code

    # Carol (contributor) writes a post, gives Mastodon its own text, adds an image with alt text.
    log_in(page, "carol", "password-carol-1")
    page.goto(reverse("posts:compose", kwargs={"slug": "acme"}))
    page.locator(f"label[for='ch-{code}']").click()
    page.locator("#text-0").fill(MAIN)
    page.locator("#upload-0").set_input_files(str(png(tmp_path)))
    alt = page.get_by_label("Alt text: describe the image for people who cannot see it")
    alt.wait_for()
    alt.fill(ALT)
    page.get_by_text("Different text per channel").click()
    page.locator(f"#override-{code}-0").fill(OWN)
    page.locator("label[for='mode-now']").click()
    page.locator(f"#panel-{code}").get_by_text("(own text)").first.wait_for()
    submit = page.locator("#submit-button")
    assert submit.inner_text().strip() == "Submit for approval"
    submit.click()
    page.wait_for_url(lambda url: "/posts/" in url and "/compose" not in url)
    post = Post.objects.get()
    assert post.status == Post.Status.PENDING_APPROVAL
    assert post.deliveries.get().text_overrides == [OWN]

    # Bob (editor) opens Approvals: Mastodon's own text, the image that loads, and Mastodon's preview.
    switch_user(page, "bob", "password-bob-1")
    assert page.locator(".nav-badge").first.inner_text().startswith("1")
    page.get_by_role("link", name="Approvals").click()
    card = page.locator(f"#post-{post.code}")
    block = card.locator(".outgoing-group")
    block.get_by_text(OWN).first.wait_for()
    assert block.get_by_text("Own text").is_visible()
    assert mastodon_channel.handle in block.locator(".outgoing-title").inner_text()
    thumbnail = block.locator(f".media-item img[alt='{ALT}']")
    thumbnail.wait_for()
    thumbnail.scroll_into_view_if_needed()
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=thumbnail.element_handle())
    assert thumbnail.evaluate("img => img.naturalWidth") == 320
    assert ALT in block.locator("figcaption").inner_text()

    block.get_by_text("Preview on Mastodon").click()
    preview = block.locator(".pv-mastodon")
    preview.wait_for()
    assert OWN.split(" #")[0] in preview.locator(".pv-text").inner_text()
    assert preview.locator(".pv-tag").inner_text() == "#fediverse"
    preview_image = preview.locator(f"img[alt='{ALT}']")
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=preview_image.element_handle())
    screenshot("approvals-per-channel")

    # The phone width: nothing scrolls sideways.
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.set_viewport_size({"width": 1280, "height": 900})

    card.get_by_role("button", name="Approve").click()
    page.get_by_role("status").filter(has_text="Approved: it goes out now.").wait_for()
    post.refresh_from_db()
    assert post.status == Post.Status.SCHEDULED and post.approved_by == cast.bob
    # The request to approve it is resolved: Bob's count of unread notifications is gone.
    assert page.locator(".nav-badge").count() == 0

    # Carol sees that it was approved, on her notifications page and in the navigation's count.
    switch_user(page, "carol", "password-carol-1")
    assert page.locator(".nav-badge").first.inner_text().startswith("1")
    page.get_by_role("link", name="Notifications").click()
    item = page.locator(".notification-approved")
    item.wait_for()
    assert "bob approved your post" in item.inner_text() and "it goes out now" in item.inner_text()
    assert item.get_by_text("New").is_visible()
    assert Notification.objects.get(kind=Notification.Kind.APPROVED).user == cast.carol
