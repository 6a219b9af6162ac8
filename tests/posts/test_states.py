"""posts.states: transitions declared once and refused otherwise; status groups used by pages and the API."""

import ast
import re
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils.timezone import now

from posts import states
from posts.models import Delivery, Post
from tests.posts.deliveries import _row, html_of, make_delivery
from tests.posts.engine import compose

S = Delivery.Status
ROOT = Path(__file__).resolve().parents[2]


def test_an_undeclared_transition_is_refused_without_touching_the_row(cast, make_channel):
    delivery = make_delivery(make_channel(), now() + timedelta(hours=1))
    with CaptureQueriesContext(connection) as queries, pytest.raises(states.UndeclaredTransition):
        states.apply("unpublish", delivery, last_error="should not be written")
    assert len(queries) == 0
    delivery.refresh_from_db()
    assert delivery.status == S.SCHEDULED and delivery.last_error == ""


def test_a_transition_without_its_guard_or_writing_a_status_is_refused(cast, make_channel):
    delivery = make_delivery(make_channel(), now(), status=S.PUBLISHING)
    with CaptureQueriesContext(connection) as queries:
        with pytest.raises(states.UndeclaredTransition):
            states.apply("publish", delivery)  # only the claim's holder may end a publish
        with pytest.raises(states.UndeclaredTransition):
            states.apply("give_back", delivery, where={"claim": None}, status=S.PUBLISHED)
    assert len(queries) == 0
    delivery.refresh_from_db()
    assert delivery.status == S.PUBLISHING


def test_a_transition_changes_only_rows_in_its_source_statuses(cast, make_channel):
    channel = make_channel()
    failed = make_delivery(channel, now() - timedelta(hours=1), status=S.FAILED)
    published = make_delivery(channel, now() - timedelta(hours=2), status=S.PUBLISHED)
    assert states.apply("retry", published.pk, next_attempt_at=now()) == 0
    assert states.apply("retry", failed, next_attempt_at=now(), last_error="") == 1
    assert failed.status == S.SCHEDULED  # the instance passed in follows
    published.refresh_from_db()
    assert published.status == S.PUBLISHED


def test_a_claim_holds_only_for_its_token(cast, make_channel):
    delivery = make_delivery(make_channel(), now(), status=S.PUBLISHING)
    Delivery.objects.filter(pk=delivery.pk).update(claim=uuid.uuid4())
    assert states.apply("publish", delivery.pk, where={"claim": uuid.uuid4()}) == 0
    delivery.refresh_from_db()
    assert delivery.status == S.PUBLISHING


def test_every_transition_leads_between_declared_statuses():
    for step in states.TRANSITIONS.values():
        assert step.target in S.values and set(step.sources) <= set(S.values)
        if S.PUBLISHING in step.sources:
            assert "claim" in step.needs, step.name


def test_the_status_groups_hold_only_statuses_and_busy_ones_cannot_be_unscheduled():
    groups = [v for name, v in vars(states).items() if isinstance(v, tuple) and not name.startswith("_")]
    for group in groups:
        assert set(group) <= set(S.values)
    assert not set(states.BUSY) & set(states.TRANSITIONS["unschedule"].sources)
    assert set(states.TRANSITIONS["retry"].sources) == set(states.NEEDS_ACTION)


# Uses of the groups


def test_the_queue_shows_a_delivery_going_out_as_publishing(client, cast, make_channel):
    channel = make_channel()
    queued = make_delivery(channel, now(), status=S.QUEUED)
    held = make_delivery(channel, now() + timedelta(hours=1), status=S.HELD)
    client.force_login(cast.alice)
    html = html_of(client, "posts:channel-queue", code=channel.code)
    assert "Publishing…" in _row(html, queued) and "hx-trigger" in _row(html, queued)
    held_row = _row(html, held)
    assert "Held: channel needs reconnecting" in held_row and "hx-trigger" not in held_row
    assert "Reschedule" in held_row and "Reschedule" not in _row(html, queued)  # movable ones only


def test_the_live_status_stops_polling_once_the_delivery_is_done(client, cast, make_channel):
    delivery = make_delivery(make_channel(), now(), status=S.PUBLISHING)
    client.force_login(cast.victor)
    url = reverse("posts:delivery-status", kwargs={"slug": "acme", "code": delivery.code})
    htmx = {"HX-Request": "true"}
    assert client.get(url, headers=htmx).status_code == 200
    for status in states.DONE:
        Delivery.objects.filter(pk=delivery.pk).update(status=status, last_error="Rejected: too long.")
        response = client.get(url, headers=htmx)
        assert response.status_code == 286 and "hx-trigger" not in response.content.decode()
    brief = client.get(url + "?brief=1", headers=htmx).content.decode()
    assert brief.startswith('<span class="live-status"') and "Rejected: too long." in brief


def test_a_calendar_chip_going_out_polls_the_same_live_status(client, cast, make_channel):
    channel = make_channel()
    going = make_delivery(channel, now() - timedelta(seconds=10), status=S.PUBLISHING)
    later = make_delivery(channel, now() + timedelta(minutes=5))
    client.force_login(cast.alice)
    html = client.get(reverse("posts:calendar", kwargs={"slug": "acme"}), {"view": "day"}).content.decode()
    status_url = reverse("posts:delivery-status", kwargs={"slug": "acme", "code": going.code})
    chip = re.search(rf'<li[^>]*id="chip-{going.code}".*?</li>', html, re.S).group(0)
    assert f'hx-get="{status_url}?brief=1" hx-trigger="every 3s"' in chip and "Publishing…" in chip
    assert "hx-trigger" not in re.search(rf'<li[^>]*id="chip-{later.code}".*?</li>', html, re.S).group(0)


def test_the_failed_page_lists_the_deliveries_needing_action(client, cast, make_channel):
    channel = make_channel()
    rows = {status: make_delivery(channel, now() - timedelta(hours=1), status=status) for status in S.values}
    client.force_login(cast.alice)
    html = client.get(reverse("posts:failed", kwargs={"slug": "acme"})).content.decode()
    listed = {status for status, d in rows.items() if str(d.post.code) in html}
    assert listed == set(states.NEEDS_ACTION)


def test_a_post_is_locked_while_any_delivery_is_busy(client, cast, mastodon_channel):
    post = compose(cast.alice, cast.workspace, [mastodon_channel], ["Locked?"])
    client.force_login(cast.alice)
    url = reverse("posts:detail", kwargs={"slug": "acme", "code": post.code})
    edit = reverse("posts:edit", kwargs={"slug": "acme", "code": post.code})
    for status in S.values:
        Delivery.objects.filter(post=post).update(status=status)
        html = client.get(url).content.decode()
        assert (f'href="{edit}"' not in html) == (status in states.BUSY), status


def test_the_api_lists_the_models_statuses(client, db):
    schema = client.get("/api/v1/openapi.json").json()["components"]["schemas"]
    delivery = schema["DeliveryOut"]["properties"]["status"]
    post = schema["PostOut"]["properties"]["status"]
    assert delivery["enum"] == list(S.values)
    assert post["enum"] == list(Post.Status.values)


# Every status write goes through posts.states

# Other models' statuses, written where they live.
OTHER_MODELS = re.compile(r"^(Post|Channel)\.objects\b")
OTHER_TARGETS = {"post.status", "channel.status"}
WRITES = {"update", "create", "bulk_create", "get_or_create", "update_or_create"}


def _status_writes(tree: ast.AST):
    """(line, code) of each write of a `status` that is not known to be another model's."""

    def visit(node, cls=None):
        if isinstance(node, ast.ClassDef):
            cls = node.name
        if isinstance(node, ast.Call) and any(k.arg == "status" for k in node.keywords):
            # An unsaved Delivery(status=...) built for a template writes nothing: not looked at.
            func = node.func
            if isinstance(func, ast.Attribute) and func.attr in WRITES:
                if not OTHER_MODELS.match(ast.unparse(func.value)):
                    yield node.lineno, ast.unparse(node)
        if isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign):
            for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                if isinstance(target, ast.Attribute) and target.attr == "status":
                    code = ast.unparse(target)
                    if code == "self.status" and cls != "Delivery":
                        continue
                    if code not in OTHER_TARGETS:
                        yield node.lineno, code
        for child in ast.iter_child_nodes(node):
            yield from visit(child, cls)

    yield from visit(tree)


def test_only_posts_states_writes_a_deliverys_status():
    found = []
    for app in ("posts", "api", "channels", "workspaces", "scheduler_project"):
        for path in (ROOT / app).rglob("*.py"):
            rel = path.relative_to(ROOT)
            if "migrations" in rel.parts or rel.as_posix() == "posts/states.py":
                continue
            found += [f"{rel}:{line}: {code}" for line, code in _status_writes(ast.parse(path.read_text()))]
    assert found == []


def test_the_status_write_check_finds_the_ways_of_writing_a_status():
    source = """
Delivery.objects.filter(pk=1).update(status="published")
post.deliveries.update(status=S.DRAFT)
held.update(status=S.SCHEDULED)
delivery.status = S.PUBLISHED
Delivery.objects.create(post=post, status="scheduled")
class Delivery:
    def f(self):
        self.status = "failed"
Post.objects.filter(pk=1).update(status="draft")
post.status = "draft"
"""
    assert [line for line, _ in _status_writes(ast.parse(source))] == [2, 3, 4, 5, 6, 9]


def test_the_table_in_the_modules_docstring_matches_the_declared_transitions():
    lines = states.__doc__.splitlines()
    header = next(line for line in lines if line.split()[:2] == ["transition", "from"])
    columns = [header.index(" from ") + 1, header.index(" to ") + 1, header.index(" by") + 1]
    rows = {}
    for line in lines:
        words = line.split()
        if line.startswith("    ") and words and words[0] in states.TRANSITIONS:
            rows[words[0]] = line
    assert set(rows) == set(states.TRANSITIONS)
    for name, step in states.TRANSITIONS.items():
        line = rows[name]
        sources, target = line[columns[0] : columns[1]], line[columns[1] : columns[2]].strip()
        assert target == step.target, name
        assert {s.strip() for s in sources.split("(")[0].split(",")} == set(step.sources), name
