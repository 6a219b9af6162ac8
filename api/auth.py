"""Bearer tokens, the caller's role, and the per-token rate limit.

A token is looked up by its SHA-256, then the user's membership in the token's workspace is read
afresh, so removing a member or changing a role applies to the very next request.
"""

import logging
from dataclasses import dataclass
from datetime import timedelta

import redis
from django.conf import settings
from django.utils.timezone import now
from ninja.security import HttpBearer

from api.errors import ApiError
from api.models import TOKEN_PREFIX, APIToken, hash_secret
from workspaces import throttle
from workspaces.models import Membership

log = logging.getLogger(__name__)

DEFAULT_RATE_LIMIT_PER_MINUTE = 120
# last_used is written at most this often per token, not on every request.
LAST_USED_PRECISION = timedelta(minutes=1)


@dataclass
class Caller:
    token: APIToken
    membership: Membership

    @property
    def workspace(self):
        return self.membership.workspace


def rate_limit_per_minute() -> int:
    return int(getattr(settings, "API_RATE_LIMIT_PER_MINUTE", DEFAULT_RATE_LIMIT_PER_MINUTE))


def check_rate(token: APIToken) -> None:
    """Windows of a minute from a token's first request, counted in Redis and shared by every web
    process (workspaces.throttle, which counts failed log-ins the same way)."""
    limit = rate_limit_per_minute()
    if limit <= 0:
        return
    try:
        count, retry_after = throttle.hit("api-token", str(token.pk), 60)
    except redis.RedisError:
        # Redis down already stops publishing; refusing every API call too would not help anyone.
        log.warning("API rate limit not checked: Redis unavailable")
        return
    if count > limit:
        raise ApiError(
            429,
            f"Too many requests: this token may make {limit} requests a minute. "
            f"Try again in {retry_after} seconds.",
            headers={"Retry-After": str(retry_after)},
        )


def _unauthorized(message: str) -> ApiError:
    return ApiError(401, message, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})


def caller_for(secret: str) -> Caller:
    if not secret.startswith(TOKEN_PREFIX) or len(secret) > 200:
        raise _unauthorized("This is not an API token of this site (they start with osk_).")
    token = (
        APIToken.objects.select_related("workspace", "user").filter(secret_hash=hash_secret(secret)).first()
    )
    if token is None or token.revoked is not None:
        raise _unauthorized("This API token is not valid: it was revoked or mistyped.")
    if not token.user.is_active:
        raise _unauthorized("The account this token belongs to is deactivated.")
    membership = Membership.objects.filter(workspace_id=token.workspace_id, user_id=token.user_id).first()
    if membership is None:
        raise _unauthorized("The person this token belongs to is no longer a member of its workspace.")
    membership.workspace = token.workspace
    membership.user = token.user
    check_rate(token)
    moment = now()
    if token.last_used is None or token.last_used < moment - LAST_USED_PRECISION:
        APIToken.objects.filter(pk=token.pk).update(last_used=moment)
        token.last_used = moment
    return Caller(token=token, membership=membership)


class TokenAuth(HttpBearer):
    """Authorization: Bearer osk_... The result is kept on the request (the idempotency layer asks too)."""

    def __call__(self, request):
        cached = getattr(request, "_api_caller", None)
        if cached is not None:
            if isinstance(cached, ApiError):
                raise cached
            return cached
        header = request.headers.get("Authorization", "")
        scheme, _, secret = header.partition(" ")
        if not header:
            return None  # ninja answers 401 through api.errors.on_http_error
        try:
            if scheme.lower() != "bearer":
                raise _unauthorized("Use the Bearer scheme: Authorization: Bearer osk_...")
            caller = caller_for(secret.strip())
        except ApiError as exc:
            request._api_caller = exc
            raise
        request._api_caller = caller
        request.workspace = caller.workspace
        request.membership = caller.membership
        return caller

    def authenticate(self, request, token):  # pragma: no cover - __call__ does the work
        raise NotImplementedError


token_auth = TokenAuth()


def require(request, perm: str) -> None:
    """403 with the reason when the caller's role lacks `perm`."""
    membership = request.auth.membership
    if not membership.can(perm):
        raise ApiError(403, f"Your role in this workspace ({membership.get_role_display()}) cannot do this.")
