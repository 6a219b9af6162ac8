import logging
import time

import pytest
import redis
from django.conf import settings as django_settings
from django.contrib.auth.hashers import MD5PasswordHasher
from django.db import connection
from django.test import RequestFactory
from django.urls import reverse

from workspaces import throttle

ACCOUNT_SENTENCE = "Too many failed log-ins for this account. Try again in 15 minutes."
NETWORK_SENTENCE = "Too many failed log-ins from your network."
WRONG = "not-her-password"


@pytest.fixture(autouse=True)
def clean_counters():
    conn = redis.Redis.from_url(django_settings.CACHES["throttle"]["LOCATION"])

    def clear():
        for key in conn.scan_iter("throttle:*"):
            conn.delete(key)

    clear()
    yield
    clear()


def window_ends_in(seconds: float) -> None:
    """Move time as the throttle sees it: every counter's window now ends in `seconds`."""
    conn = redis.Redis.from_url(django_settings.CACHES["throttle"]["LOCATION"])
    for key in conn.scan_iter("throttle:*"):
        conn.pexpire(key, int(seconds * 1000))


@pytest.fixture
def hashes(monkeypatch):
    """How often a password was hashed (checked against a user's, or hashed for an unknown name)."""
    calls = []
    verify, encode = MD5PasswordHasher.verify, MD5PasswordHasher.encode

    def counting_verify(self, password, encoded):
        calls.append("verify")
        return verify(self, password, encoded)

    def counting_encode(self, password, salt):
        calls.append("encode")
        return encode(self, password, salt)

    monkeypatch.setattr(MD5PasswordHasher, "verify", counting_verify)
    monkeypatch.setattr(MD5PasswordHasher, "encode", counting_encode)
    return calls


def log_in(client, username, password, **headers):
    return client.post(reverse("login"), {"username": username, "password": password}, **headers)


def logged_in(client) -> bool:
    return "_auth_user_id" in client.session


def test_it_refuses_an_account_after_ten_failures_until_the_window_ends(client, cast):
    for attempt in range(30):
        response = log_in(client, "alice", WRONG)
        if attempt < 10:
            assert response.status_code == 200, attempt
            assert b"Please enter a correct" in response.content
        else:
            assert response.status_code == 429, attempt
            assert ACCOUNT_SENTENCE in response.content.decode()
            assert 890 <= int(response["Retry-After"]) <= 900  # the window began at the first failure
            assert b'name="password"' in response.content  # the form is still there

    window_ends_in(14 * 60 + 30)
    response = log_in(client, "alice", "password-alice-1")
    assert response.status_code == 429 and not logged_in(client)
    assert "Try again in 15 minutes." in response.content.decode()  # 14 min 30 s, rounded up

    window_ends_in(30)
    response = log_in(client, "alice", "password-alice-1")
    assert response.status_code == 429
    assert "Try again in 30 seconds." in response.content.decode()
    assert response["Retry-After"] == "30"

    window_ends_in(0.001)
    time.sleep(0.01)
    response = log_in(client, "alice", "password-alice-1")
    assert response.status_code == 302 and logged_in(client)


def test_it_counts_the_username_in_any_case_and_the_email_as_one_account(client, cast):
    for name in ["alice"] * 4 + ["ALICE"] * 3 + ["Alice@Example.org"] * 3:
        assert log_in(client, name, WRONG).status_code == 200
    for name in ["alice", "aLiCe", "alice@example.org"]:
        response = log_in(client, name, "password-alice-1")
        assert response.status_code == 429 and ACCOUNT_SENTENCE in response.content.decode()
    assert not logged_in(client)


def test_it_answers_the_same_for_an_unknown_account(client, cast):
    for name in ("alice", "nobody", "nobody@example.org"):
        statuses = [log_in(client, name, WRONG).status_code for _ in range(12)]
        assert statuses == [200] * 10 + [429] * 2, name
        assert ACCOUNT_SENTENCE in log_in(client, name, WRONG).content.decode()


def test_it_lets_another_account_in_from_the_same_address_until_the_address_limit(client, cast, settings):
    settings.LOGIN_FAILURES_PER_ADDRESS = 15
    for _ in range(10):
        log_in(client, "alice", WRONG)
    assert log_in(client, "alice", "password-alice-1").status_code == 429

    assert log_in(client, "bob", "password-bob-1").status_code == 302
    client.logout()
    for _ in range(5):
        assert log_in(client, "bob", WRONG).status_code == 200

    response = log_in(client, "charlie", "password-charlie-1")
    assert response.status_code == 429 and not logged_in(client)
    assert NETWORK_SENTENCE in response.content.decode()
    # Another address is not concerned.
    assert log_in(client, "charlie", "password-charlie-1", REMOTE_ADDR="192.0.2.7").status_code == 302


def test_it_forgets_an_accounts_failures_after_a_success(client, cast):
    for _ in range(9):
        log_in(client, "alice", WRONG)
    assert log_in(client, "alice@example.org", "password-alice-1").status_code == 302
    client.logout()
    for _ in range(9):
        assert log_in(client, "alice", WRONG).status_code == 200
    assert log_in(client, "alice", "password-alice-1").status_code == 302


@pytest.mark.parametrize("name", ["alice", "nobody"])
def test_it_does_not_hash_the_password_of_a_refused_attempt(client, cast, hashes, name):
    for _ in range(10):
        log_in(client, name, WRONG)
    assert len(hashes) >= 10  # each failure was checked
    hashes.clear()
    for _ in range(20):
        assert log_in(client, name, WRONG).status_code == 429
    assert log_in(client, name, "password-alice-1").status_code == 429
    assert hashes == []


def test_it_ignores_x_forwarded_for_unless_behind_a_proxy(client, cast, settings):
    settings.LOGIN_FAILURES_PER_ADDRESS = 5
    settings.BEHIND_PROXY = False
    for number in range(5):
        log_in(client, f"someone{number}", WRONG, HTTP_X_FORWARDED_FOR=f"198.51.100.{number}")
    response = log_in(client, "bob", "password-bob-1", HTTP_X_FORWARDED_FOR="198.51.100.99")
    assert response.status_code == 429 and NETWORK_SENTENCE in response.content.decode()


def test_it_takes_the_address_the_proxy_added_when_behind_one(client, cast, settings):
    settings.LOGIN_FAILURES_PER_ADDRESS = 5
    settings.BEHIND_PROXY = True
    for number in range(5):
        log_in(client, f"someone{number}", WRONG, HTTP_X_FORWARDED_FOR=f"10.0.0.{number}, 198.51.100.1")
    # What the client put before the proxy's entry changes nothing.
    response = log_in(client, "bob", "password-bob-1", HTTP_X_FORWARDED_FOR="10.9.9.9, 198.51.100.1")
    assert response.status_code == 429 and NETWORK_SENTENCE in response.content.decode()
    # The proxy's own address (REMOTE_ADDR) is shared by everyone and not counted.
    assert log_in(client, "bob", "password-bob-1", HTTP_X_FORWARDED_FOR="198.51.100.2").status_code == 302


def test_it_counts_an_ipv6_client_by_its_64():
    factory = RequestFactory()

    def address(remote):
        return throttle.client_address(factory.get("/", REMOTE_ADDR=remote))

    assert address("2001:db8:1:2:aaaa::1") == address("2001:db8:1:2:bbbb::2") == "2001:db8:1:2::/64"
    assert address("2001:db8:1:3::1") != address("2001:db8:1:2::1")
    assert address("::ffff:192.0.2.1") == "192.0.2.1"
    assert address("192.0.2.1") == "192.0.2.1"


def test_it_logs_a_refused_attempt_without_the_password(client, cast, caplog):
    for _ in range(10):
        log_in(client, "alice", WRONG)
    with caplog.at_level(logging.WARNING, logger="workspaces.throttle"):
        log_in(client, "alice", "password-alice-1")
    records = [r for r in caplog.records if r.name == "workspaces.throttle"]
    assert [r.levelno for r in records] == [logging.WARNING]
    text = records[0].getMessage()
    assert "'alice'" in text and "127.0.0.1" in text
    assert "password-alice-1" not in caplog.text and WRONG not in caplog.text


def test_it_lets_people_log_in_when_redis_is_down(client, cast, settings, caplog):
    settings.CACHES = {
        **settings.CACHES,
        "throttle": {**settings.CACHES["throttle"], "LOCATION": "redis://127.0.0.1:9/0"},
    }
    assert log_in(client, "alice", WRONG).status_code == 200
    assert log_in(client, "alice", "password-alice-1").status_code == 302
    assert "Redis unavailable" in caplog.text


def request_reset(client, email, **headers):
    return client.post(reverse("password_reset"), {"email": email}, **headers)


def test_it_limits_reset_links_per_email_address(client, cast, mailoutbox, settings):
    settings.PASSWORD_RESETS_PER_EMAIL = 3
    for email in ["alice@example.org", "nobody@example.org"]:
        assert [request_reset(client, email).status_code for _ in range(3)] == [302] * 3
        response = request_reset(client, email.upper())
        assert response.status_code == 429
        assert "Too many reset links were asked for this email address. Try again in 15 minutes." in (
            response.content.decode()
        )
        assert b'name="email"' in response.content
    assert len(mailoutbox) == 3  # to alice; none to the unknown address, none for the refused ones


def test_it_limits_reset_links_per_client_address(client, cast, mailoutbox, settings):
    settings.PASSWORD_RESETS_PER_ADDRESS = 2
    assert request_reset(client, "alice@example.org").status_code == 302
    assert request_reset(client, "bob@example.org").status_code == 302
    response = request_reset(client, "carol@example.org")
    assert response.status_code == 429 and response["Retry-After"] == "900"
    assert "Too many reset links were asked from your network." in response.content.decode()
    assert len(mailoutbox) == 2
    assert request_reset(client, "carol@example.org", REMOTE_ADDR="192.0.2.7").status_code == 302


def _refuse_nul(execute, sql, params, many, context):
    if any(isinstance(value, str) and "\x00" in value for value in params or ()):
        raise ValueError("A string literal cannot contain NUL (0x00) characters.")  # psycopg's answer
    return execute(sql, params, many, context)


def test_a_nul_character_in_the_name_is_answered_with_the_form(client, cast):
    with connection.execute_wrapper(_refuse_nul):  # as PostgreSQL does
        response = log_in(client, "alice\x00@example.org", WRONG)
        assert response.status_code == 200
        assert b"Null characters are not allowed" in response.content
        for _ in range(10):
            log_in(client, "alice\x00@example.org", WRONG)
        assert log_in(client, "alice\x00@example.org", WRONG).status_code == 429
