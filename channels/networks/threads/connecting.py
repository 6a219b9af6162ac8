"""Connecting a Threads account (used by connect.py's pages and network.py's REST API hook).

Two ways: OAuth through the operator's Meta app (settings.THREADS_OAUTH_URL, THREADS_APP_ID,
THREADS_APP_SECRET), or a long-lived token pasted by the person.

Credentials: {"access_token", "user_id", "obtained_at", "expires_at"} (the last two ISO 8601, "expires_at"
empty when unknown). ConnectedAccount.remote_id is the Threads user id, a string.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from django.conf import settings

from channels.deadline import START_AGAIN, TRY_AGAIN, out_of_time
from channels.networks.base import (
    AdapterError,
    AuthorizationLost,
    ConnectedAccount,
    ConnectError,
    ContentRejected,
    TransientError,
)
from channels.networks.threads.client import GraphClient, iso, now
from channels.networks.threads.rules import DEFAULT_LIMITS

SCOPES = ["threads_basic", "threads_content_publish", "threads_manage_insights", "threads_read_replies"]


def profile(client: GraphClient, token: str, credentials: dict[str, Any], expires=None) -> ConnectedAccount:
    """The account behind a token, as a connect flow (or "Check connection") returns it."""
    me = client.call(
        "GET", "me", token=token, params={"fields": "id,username,name,threads_profile_picture_url"}
    )
    user_id = str(me["id"])
    username = me.get("username") or user_id
    return ConnectedAccount(
        network="threads",
        remote_id=user_id,
        handle=f"@{username}",
        server_url="",
        credentials={**credentials, "user_id": user_id},
        display_name=me.get("name") or username,
        avatar_url=me.get("threads_profile_picture_url") or "",
        limits=dict(DEFAULT_LIMITS),
        token_expires=expires,
    )


def _require_app() -> tuple[str, str]:
    app_id, secret = settings.THREADS_APP_ID, settings.THREADS_APP_SECRET
    if not app_id or not secret:
        raise ConnectError(
            "Connecting with Threads is not set up on this installation: the operator must create a Meta app "
            "with the Threads use case and set THREADS_APP_ID and THREADS_APP_SECRET."
        )
    return app_id, secret


def _unreachable(then: str = TRY_AGAIN, field: str | None = None) -> ConnectError:
    """Threads did not answer (in time): said in the words of the web request's deadline when it ran out."""
    said = out_of_time("Threads", then) or "Threads could not be reached. Try again in a moment."
    return ConnectError(said, field=field)


def authorization_url(redirect_uri: str, state: str) -> str:
    """Where to send the browser to ask the person for access."""
    app_id, _ = _require_app()
    query = urlencode(
        {
            "client_id": app_id,
            "redirect_uri": redirect_uri,
            "scope": ",".join(SCOPES),
            "response_type": "code",
            "state": state,
        }
    )
    return f"{settings.THREADS_OAUTH_URL}?{query}"


def connect_with_code(code: str, redirect_uri: str) -> ConnectedAccount:
    """Authorisation code -> short-lived token (1 h) -> long-lived token (60 days) -> profile."""
    app_id, secret = _require_app()
    if not code:
        raise ConnectError("Threads did not send an authorisation code. Start connecting again.")
    client = GraphClient()
    try:
        short = client.call(
            "POST",
            "oauth/access_token",
            data={
                "client_id": app_id,
                "client_secret": secret,
                "grant_type": "authorization_code",
                "redirect_uri": redirect_uri,
                "code": code,
            },
        )
    except TransientError:
        raise _unreachable(START_AGAIN) from None
    except AdapterError:
        raise ConnectError(
            "Threads did not accept the authorisation (it may have expired, or the app's settings do not "
            "match). Start connecting again."
        ) from None
    try:
        long = client.call(
            "GET",
            "access_token",
            token=short.get("access_token", ""),
            params={"grant_type": "th_exchange_token", "client_secret": secret},
        )
        token = long.get("access_token")
        if not token:
            raise ConnectError("Threads did not hand out a lasting login. Start connecting again.")
        obtained = now()
        expires_in = int(long.get("expires_in") or 0)
        expires = obtained + timedelta(seconds=expires_in) if expires_in else None
        credentials = {
            "access_token": token,
            "user_id": str(short.get("user_id", "")),
            "obtained_at": iso(obtained),
            "expires_at": iso(expires),
        }
        return profile(client, token, credentials, expires)
    except TransientError:
        raise _unreachable(START_AGAIN) from None
    except AuthorizationLost:
        raise ConnectError(
            "Threads did not hand out a lasting login. Check the app's settings (THREADS_APP_SECRET) and "
            "start connecting again."
        ) from None
    except ContentRejected as exc:
        raise ConnectError(f"Threads refused the connection. {exc.message}") from None


def connect_with_token(access_token: str) -> ConnectedAccount:
    """A long-lived token pasted by the person (e.g. made in Meta's developer dashboard).

    Its expiry is unknown here (asking Meta's debug endpoint would need the app's credentials, which a
    pasted-token installation may not have), so token_expires is None; the refresh job refreshes such
    tokens once they are a day old, and from then on the expiry is known.
    """
    token = (access_token or "").strip()
    if not token:
        raise ConnectError("Paste a Threads access token.", field="access_token")
    client = GraphClient()
    try:
        return profile(
            client,
            token,
            {"access_token": token, "user_id": "", "obtained_at": iso(now()), "expires_at": ""},
        )
    except AuthorizationLost:
        raise ConnectError(
            "Threads did not accept this token: it may be mistyped, expired or revoked, or lack the "
            "threads_basic permission.",
            field="access_token",
        ) from None
    except TransientError:
        raise _unreachable(field="access_token") from None
    except AdapterError as exc:
        raise ConnectError(f"Threads refused the token: {exc.message}", field="access_token") from None
