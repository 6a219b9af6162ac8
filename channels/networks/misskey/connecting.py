"""Connecting a Misskey account (or one on a fork: Sharkey, Firefish, Iceshrimp, CherryPick): with a
pasted access token, or by MiAuth.

MiAuth: the browser goes to `https://HOST/miauth/<session>?name=&callback=&permission=`, the person
allows access there, the server sends the browser to our callback with `?session=<session>`, and
`POST /api/miauth/<session>/check` gives `{token, user}`. The connect pages (connect.py) and the REST
API (network.py) call these; each returns a ConnectedAccount with its limits read, or raises
ConnectError naming the form field.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode

from django.conf import settings

from channels.deadline import START_AGAIN, out_of_time
from channels.guard import UnsafeURL, normalise_base_url
from channels.networks.base import AdapterError, AuthorizationLost, ConnectedAccount, ConnectError
from channels.networks.misskey import rules
from channels.networks.misskey.client import MisskeyClient, host_of, http_allowed

NETWORK = rules.NETWORK
# What the product needs: publish notes, upload files, read the account (and its notes).
PERMISSIONS = ("write:notes", "write:drive", "read:account")
_TOKEN_RE = re.compile(r"[A-Za-z0-9_\-]{8,200}")
_SESSION_RE = re.compile(r"[A-Za-z0-9\-]{8,100}")


def server_base_url(server: str) -> str:
    """The person's "misskey.io" as a checked base URL, or ConnectError on field server_url."""
    try:
        base_url = normalise_base_url(server, example="misskey.io")
    except UnsafeURL as exc:
        raise ConnectError(str(exc), field="server_url") from None
    if base_url.startswith("http://") and not http_allowed():
        raise ConnectError("Use the server's https:// address.", field="server_url")
    return base_url


def miauth_url(base_url: str, session: str, callback: str) -> str:
    """Where to send the browser to allow this site on the server."""
    query = urlencode({"name": settings.SITE_NAME, "callback": callback, "permission": ",".join(PERMISSIONS)})
    return f"{base_url}/miauth/{session}?{query}"


def connect_with_token(server: str, access_token: str) -> ConnectedAccount:
    """Connect with a token the person made in Settings > API on their server."""
    base_url = server_base_url(server)
    token = (access_token or "").strip()
    if not _TOKEN_RE.fullmatch(token):
        raise ConnectError(
            "This does not look like an access token: copy the token shown when you made it.",
            field="access_token",
        )
    return _connected(base_url, token, field="access_token")


def check_miauth(base_url: str, session: str) -> ConnectedAccount:
    """Finish MiAuth: ask the server for the token of the session the person allowed."""
    base_url = server_base_url(base_url)
    host = host_of(base_url)
    if not _SESSION_RE.fullmatch(session or ""):
        raise ConnectError(f"{host} sent back a sign-in this site did not start. Please start again.")
    try:
        answer = MisskeyClient(base_url).call(f"miauth/{session}/check", {}, what="the sign-in check")
    except AdapterError:
        raise ConnectError(
            out_of_time(host, START_AGAIN)
            or f"{host} could not complete the sign-in just now. Please try again."
        ) from None
    token = answer.get("token") if isinstance(answer, dict) else None
    if not answer or not isinstance(token, str) or not token:
        raise ConnectError(
            f"You did not allow access on {host} (or the sign-in expired), so nothing was connected."
        )
    return _connected(base_url, token, field=None)


def _connected(base_url: str, token: str, *, field: str | None) -> ConnectedAccount:
    host = host_of(base_url)
    client = MisskeyClient(base_url, token)
    try:
        me = client.call("i", {}, what="the account check")
        meta = client.call("meta", {"detail": True}, what="the server's limits")
    except AuthorizationLost:
        raise ConnectError(f"{host} did not accept this access token.", field=field) from None
    except AdapterError as exc:
        raise ConnectError(
            out_of_time(host) or f"Could not connect to {host}: {exc.message}", field="server_url"
        ) from None
    if not isinstance(me, dict) or not me.get("id") or not me.get("username"):
        raise ConnectError(f"{host} does not look like a Misskey server.", field="server_url")
    return connected_account(me, base_url, {"access_token": token}, rules.limits_from(meta, me, base_url))


def connected_account(
    me: dict, base_url: str, credentials: dict[str, Any], limits: dict[str, Any]
) -> ConnectedAccount:
    """The account as `i` describes it, on the server whose limits are given."""
    host = me.get("host") or limits.get("domain") or host_of(base_url)
    return ConnectedAccount(
        network=NETWORK,
        remote_id=str(me["id"]),
        handle=f"@{me['username']}@{host}",
        server_url=base_url,
        credentials=credentials,
        display_name=me.get("name") or me.get("username") or "",
        avatar_url=me.get("avatarUrl") or "",
        limits=limits,
    )
