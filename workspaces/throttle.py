"""Throttling of failed log-ins and of password-reset requests.

Counters live in Redis (the "throttle" cache's URL), so every web process shares them; the API's
per-token rate limit counts with the same `hit`. A limit is checked before the form is validated: a
refused log-in never reaches the password hasher, so a flood costs a Redis round trip per attempt
instead of a PBKDF2 hash. Each counter's window starts at its first hit
and lasts LOGIN_THROTTLE_MINUTES; a refused attempt does not extend it.

The account is keyed by what was typed, lower-cased, with an email address resolved to its account's
username the way the log-in backend does, so "Alice", "alice" and "alice@example.org" share a count.
An unknown name gets a counter of its own and is refused exactly like a real one: the answers do not
tell whether an account exists.
"""

import hashlib
import ipaddress
import logging
import math
from dataclasses import dataclass

import redis
from django.conf import settings
from django.contrib.auth import get_user_model
from django.forms.utils import ErrorDict

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Refusal:
    sentence: str
    retry_after: int  # seconds


def client_address(request) -> str:
    """REMOTE_ADDR, or behind a proxy the last X-Forwarded-For entry (the one our proxy added; the
    entries before it are whatever the client sent). IPv6 clients count per /64, which one of them
    usually holds whole."""
    address = request.META.get("REMOTE_ADDR", "")
    if settings.BEHIND_PROXY:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")[-1].strip()
        address = forwarded or address
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address[:100] or "unknown"
    if ip.version == 6:
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def account_key(identifier: str) -> str:
    """The name the count is kept under (see the module's docstring)."""
    identifier = identifier.strip()
    # No address holds a NUL, and PostgreSQL refuses one in a query.
    if "@" in identifier and "\x00" not in identifier:
        username = (
            get_user_model()
            .objects.filter(email__iexact=identifier)
            .order_by("pk")
            .values_list("username", flat=True)
            .first()
        )
        if username is not None:
            identifier = username
    return identifier.lower()


_clients: dict[str, redis.Redis] = {}


def _redis() -> redis.Redis:
    """One client (and connection pool) per process for the counters, on the throttle cache's Redis
    (its URL carries REDIS_TIMEOUT, settings.py)."""
    url = settings.CACHES["throttle"]["LOCATION"]
    client = _clients.get(url)
    if client is None:
        client = _clients[url] = redis.Redis.from_url(url)
    return client


def _key(kind: str, value: str) -> str:
    return f"throttle:{kind}:{hashlib.sha256(value.encode()).hexdigest()[:32]}"


def _seconds(pttl: int) -> int:
    return max(1, math.ceil(pttl / 1000))


def hit(kind: str, value: str, window: int) -> tuple[int, int]:
    """Count one more for (kind, value) in a window that starts at the first hit and lasts `window`
    seconds: (the count so far, seconds until the window ends). Raises redis.RedisError."""
    key = _key(kind, value)
    pipe = _redis().pipeline()
    pipe.set(key, 0, ex=window, nx=True)
    pipe.incr(key)
    pipe.pttl(key)
    _, count, pttl = pipe.execute()
    return count, _seconds(pttl)


def _window() -> int:
    return settings.LOGIN_THROTTLE_MINUTES * 60


def _in_words(seconds: int) -> str:
    if seconds < 60:
        return "1 second" if seconds == 1 else f"{seconds} seconds"
    minutes = math.ceil(seconds / 60)
    return "1 minute" if minutes == 1 else f"{minutes} minutes"


def _refusal(checks: list[tuple[str, str, int, str]]) -> Refusal | None:
    """The first of (kind, value, limit, sentence) whose count has reached its limit in the window."""
    checks = [check for check in checks if check[2] > 0]
    if not checks:
        return None
    try:
        pipe = _redis().pipeline(transaction=False)
        for kind, value, _, _ in checks:
            pipe.get(_key(kind, value))
            pipe.pttl(_key(kind, value))
        found = pipe.execute()
    except redis.RedisError:
        # Refusing every log-in while Redis is down would lock everyone out, the operator included.
        log.warning("Log-in throttle not checked: Redis unavailable")
        return None
    for index, (_, _, limit, sentence) in enumerate(checks):
        count, pttl = found[2 * index], found[2 * index + 1]
        if count is not None and pttl > 0 and int(count) >= limit:
            retry_after = _seconds(pttl)
            return Refusal(f"{sentence} Try again in {_in_words(retry_after)}.", retry_after)
    return None


def _count(kind: str, value: str) -> None:
    try:
        hit(kind, value, _window())
    except redis.RedisError:
        log.warning("Log-in throttle not counted: Redis unavailable")


def _forget(kind: str, value: str) -> None:
    try:
        _redis().delete(_key(kind, value))
    except redis.RedisError:
        log.warning("Log-in throttle not reset: Redis unavailable")


def login_refusal(request, identifier: str) -> Refusal | None:
    account = account_key(identifier)
    address = client_address(request)
    refusal = _refusal(
        [
            (
                "login-account",
                account,
                settings.LOGIN_FAILURES_PER_ACCOUNT,
                "Too many failed log-ins for this account.",
            ),
            (
                "login-address",
                address,
                settings.LOGIN_FAILURES_PER_ADDRESS,
                "Too many failed log-ins from your network.",
            ),
        ]
    )
    if refusal is not None:
        log.warning(
            "Log-in refused without checking the password: %r from %s (%s)",
            identifier[:150],
            address,
            refusal.sentence,
        )
    return refusal


def login_failed(request, identifier: str) -> None:
    _count("login-account", account_key(identifier))
    _count("login-address", client_address(request))


def login_succeeded(request, identifier: str) -> None:
    """A success wipes the account's failures (not the address's: one good password among many tries
    from one place should not reopen the door to the rest)."""
    _forget("login-account", account_key(identifier))


def password_reset_refusal(request, email: str) -> Refusal | None:
    address = client_address(request)
    refusal = _refusal(
        [
            (
                "reset-email",
                email.strip().lower(),
                settings.PASSWORD_RESETS_PER_EMAIL,
                "Too many reset links were asked for this email address.",
            ),
            (
                "reset-address",
                address,
                settings.PASSWORD_RESETS_PER_ADDRESS,
                "Too many reset links were asked from your network.",
            ),
        ]
    )
    if refusal is not None:
        log.warning("Password reset refused: %r from %s (%s)", email[:150], address, refusal.sentence)
    return refusal


def password_reset_requested(request, email: str) -> None:
    _count("reset-email", email.strip().lower())
    _count("reset-address", client_address(request))


def refused_form(form, sentence: str):
    """The bound form showing `sentence` as its only error, without validating it: validating a
    log-in form would hash the password, which is what the refusal is there to avoid."""
    form._errors = ErrorDict()
    form.cleaned_data = {}
    form.add_error(None, sentence)
    return form
