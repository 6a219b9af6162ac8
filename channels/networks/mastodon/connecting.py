"""Connecting an account on a server speaking Mastodon's client API: with a pasted access token, or
by signing in on the server (OAuth: register this site as an app, send the browser to the
server's sign-in page, trade the code it sends back for a token).

The connect pages (connect.py) and the REST API (network.py's api_connect) call these; each returns
a ConnectedAccount with the server's limits read, or raises ConnectError naming the form field.
"""

from __future__ import annotations

import re
from typing import Any

from django.conf import settings
from mastodon import (
    Mastodon,
    MastodonAPIError,
    MastodonError,
    MastodonIllegalArgumentError,
    MastodonNetworkError,
)

from channels.deadline import START_AGAIN, out_of_time
from channels.guard import UnsafeURL, normalise_base_url
from channels.networks.base import ConnectedAccount, ConnectError
from channels.networks.mastodon.client import GuardedSession, host_of, http_allowed, new_client, user_agent
from channels.networks.mastodon.errors import connect_error
from channels.networks.mastodon.limits import read_server_limits

NETWORK = "mastodon"
# The same scopes for create_app, auth_request_url and log_in; plain read/write work on every fork.
SCOPES = ["read", "write"]
# RFC 6750 b64token. Anything else (spaces, a pasted URL, a file path) is not a token.
_TOKEN_RE = re.compile(r"[A-Za-z0-9\-._~+/]+=*")


def instance_base_url(instance_url: str) -> str:
    """The user's "mastodon.social" as a checked base URL, or ConnectError on field instance_url."""
    try:
        base_url = normalise_base_url(instance_url, example="mastodon.social")
    except UnsafeURL as exc:
        raise ConnectError(str(exc), field="instance_url") from None
    if base_url.startswith("http://") and not http_allowed():
        raise ConnectError("Use the server's https:// address.", field="instance_url")
    return base_url


def connect_with_token(instance_url: str, access_token: str) -> ConnectedAccount:
    """Connect with a token the user created on their server (Preferences > Development)."""
    base_url = instance_base_url(instance_url)
    token = (access_token or "").strip()
    if not _TOKEN_RE.fullmatch(token):
        raise ConnectError(
            'This does not look like an access token: copy the value shown as "Your access token".',
            field="access_token",
        )
    return _connected(base_url, token)


def register_app(base_url: str, redirect_uri: str) -> tuple[str, str]:
    """Register this site as an OAuth app on the server; returns (client_id, client_secret)."""
    base_url = instance_base_url(base_url)
    host = host_of(base_url)
    try:
        client_id, client_secret = Mastodon.create_app(
            settings.SITE_NAME,
            scopes=SCOPES,
            redirect_uris=redirect_uri,
            website=settings.SITE_URL,
            api_base_url=base_url,
            request_timeout=settings.NETWORK_TIMEOUT,
            session=GuardedSession(),
            user_agent=user_agent(),
        )
    except MastodonNetworkError:
        # create_app also reports a non-JSON answer this way.
        raise ConnectError(
            out_of_time(host)
            or f"Could not register with {host}: it is unreachable or does not look like a Mastodon server.",
            field="instance_url",
        ) from None
    except (MastodonError, KeyError, TypeError):
        # A JSON error body (422, 429) surfaces as a missing client_id.
        raise ConnectError(
            f"{host} did not let this site register for sign-in. Try pasting an access token instead.",
            field="instance_url",
        ) from None
    if not (isinstance(client_id, str) and isinstance(client_secret, str)):
        raise ConnectError(
            f"{host} answered the app registration in an unexpected way.", field="instance_url"
        )
    return client_id, client_secret


def authorization_url(
    base_url: str, client_id: str, client_secret: str, redirect_uri: str, state: str
) -> str:
    """Where to send the user's browser to sign in on their server and allow this site."""
    host = host_of(base_url)
    client = new_client(instance_base_url(base_url), client_id=client_id, client_secret=client_secret)
    try:
        return client.auth_request_url(
            redirect_uris=redirect_uri, scopes=SCOPES, state=state, allow_http=http_allowed()
        )
    except MastodonError:
        raise ConnectError(
            out_of_time(host)
            or f"{host} did not offer a usable sign-in page. Try pasting an access token instead.",
            field="instance_url",
        ) from None


def exchange_code(
    base_url: str, client_id: str, client_secret: str, redirect_uri: str, code: str
) -> ConnectedAccount:
    """Finish the sign-in: trade the code from the callback for a token, then read the account."""
    base_url = instance_base_url(base_url)
    host = host_of(base_url)
    client = new_client(base_url, client_id=client_id, client_secret=client_secret)
    try:
        token = client.log_in(code=code, redirect_uri=redirect_uri, scopes=SCOPES, allow_http=http_allowed())
    except MastodonIllegalArgumentError:
        # log_in reports every failure of the exchange this way (expired code, unreachable server).
        raise ConnectError(
            out_of_time(host, START_AGAIN)
            or f"{host} did not complete the sign-in (the link may have expired). Please try again."
        ) from None
    except MastodonAPIError:
        raise ConnectError(
            f"{host} did not grant permission to read and publish posts. Please try again."
        ) from None
    except MastodonError:
        raise ConnectError(
            out_of_time(host, START_AGAIN)
            or f"{host} could not complete the sign-in just now. Please try again."
        ) from None
    if not isinstance(token, str) or not _TOKEN_RE.fullmatch(token):
        raise ConnectError(f"{host} sent back an access token this site cannot use.")
    try:
        return _connected(base_url, token)
    except ConnectError as exc:
        # The code is spent on a token already: only a new sign-in gives another.
        raise ConnectError(out_of_time(host, START_AGAIN) or exc.message, exc.field) from None


def _connected(base_url: str, token: str) -> ConnectedAccount:
    host = host_of(base_url)
    client = new_client(base_url, token)
    try:
        me = client.account_verify_credentials()
        limits = read_server_limits(client, base_url)
    except MastodonError as exc:
        error = connect_error(exc, host)
        if error is None:
            raise
        raise error from None
    if not isinstance(me, dict) or not me.get("id"):
        raise ConnectError(f"{host} does not look like a Mastodon server.", field="instance_url")
    return connected_account(me, base_url, {"access_token": token}, limits)


def connected_account(
    me: dict, base_url: str, credentials: dict[str, Any], limits: dict[str, Any]
) -> ConnectedAccount:
    """The account as verify_credentials describes it, on the server whose limits are given."""
    domain = limits.get("domain") or host_of(base_url)
    acct = me.get("acct") or me.get("username") or ""
    return ConnectedAccount(
        network=NETWORK,
        remote_id=str(me["id"]),
        handle=f"@{acct}" if "@" in acct else f"@{acct}@{domain}",
        server_url=base_url,
        credentials=credentials,
        display_name=me.get("display_name") or me.get("username") or "",
        avatar_url=me.get("avatar") or "",
        limits=limits,
    )
