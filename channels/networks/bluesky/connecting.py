"""Signing a new Bluesky channel in: a handle and an app password on bsky.social or any PDS.

Used by the connect page (connect.py) and the API (network.py). The app password is kept with the
session: the adapter signs in with it again only when the session itself is dead.

The PDS's session is the proof that the credentials work. The profile (display name, avatar) comes
from an AppView, which a PDS may not have or which may not answer: the channel is connected
without it then (profile.py).
"""

from __future__ import annotations

from atproto import Session
from atproto.exceptions import AtProtocolError
from django.conf import settings
from httpx import TransportError

from channels.guard import UnsafeURL, normalise_base_url
from channels.networks.base import ConnectedAccount, ConnectError
from channels.networks.bluesky.client import new_client
from channels.networks.bluesky.errors import connect_error
from channels.networks.bluesky.profile import read_profile
from channels.networks.bluesky.rules import DEFAULT_LIMITS, NETWORK


def _normalise_handle(handle: str, pds_url: str) -> str:
    handle = (handle or "").strip().lstrip("@").strip().lower()
    if handle and "." not in handle and "@" not in handle and not handle.startswith("did:"):
        if pds_url.rstrip("/") == "https://bsky.social":
            handle += ".bsky.social"  # what people mean by their short Bluesky name
    return handle


def connect(handle: str, app_password: str, pds_url: str | None = None) -> ConnectedAccount:
    """Sign in with a handle and an app password and return the account to save as a channel.

    Raises ConnectError with `field` set to "handle", "app_password" or "pds_url" when it fails.
    """
    try:
        base_url = normalise_base_url(pds_url or settings.BLUESKY_DEFAULT_PDS, example="bsky.social")
    except UnsafeURL as exc:
        raise ConnectError(str(exc), field="pds_url") from None
    handle = _normalise_handle(handle, base_url)
    app_password = (app_password or "").strip()
    if not handle:
        raise ConnectError("Enter your Bluesky handle, such as alice.bsky.social.", field="handle")
    if not app_password:
        raise ConnectError("Enter an app password.", field="app_password")
    client = new_client(base_url)
    sessions: list[Session] = []
    client.on_session_change(lambda event, session: sessions.append(session))
    try:
        client.login(handle, app_password, fetch_bsky_profile=False)
        session = sessions[-1]
        profile = read_profile(client, session.did)
    # UnsafeURL: a redirect, an announced endpoint, an address found private on connecting.
    except (UnsafeURL, AtProtocolError, TransportError) as exc:
        error = connect_error(exc, base_url)
        if error is None:
            raise
        raise error from None
    finally:
        client.request.close()
    return ConnectedAccount(
        network=NETWORK,
        remote_id=session.did,
        handle=session.handle,
        server_url=base_url,
        credentials={"handle": session.handle, "app_password": app_password, "session": session.export()},
        display_name=(profile.display_name or "") if profile else "",
        avatar_url=(profile.avatar or "") if profile else "",
        limits=dict(DEFAULT_LIMITS),
    )
