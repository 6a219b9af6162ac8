"""The fake PDS's XRPC methods (sessions, identity, profiles, blobs, records, posts) and its tokens.

A mixin of FakeBluesky (fake.py), which holds the state these methods read and change: accounts,
records, blobs, counts, tokens and counters, under its lock. Sessions are JWTs the SDK can decode
(HS256, signed and checked here); errors use the XRPC envelope {"error", "message"} with the status
codes the reference PDS uses.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import time

import grapheme

_TID_RE = re.compile(r"^[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}$")
_JWT_SECRET = secrets.token_bytes(32)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def make_jwt(payload: dict, typ: str) -> str:
    header = _b64(json.dumps({"typ": typ, "alg": "HS256"}).encode())
    body = _b64(json.dumps(payload, separators=(",", ":")).encode())
    signature = hmac.new(_JWT_SECRET, f"{header}.{body}".encode(), hashlib.sha256).digest()
    return f"{header}.{body}.{_b64(signature)}"


def read_jwt(token: str) -> dict | None:
    """The payload if the signature is ours, else None (expiry is checked by the caller)."""
    try:
        header, body, signature = token.split(".")
        expected = hmac.new(_JWT_SECRET, f"{header}.{body}".encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(expected, _unb64(signature)):
            return None
        return json.loads(_unb64(body))
    except ValueError:
        return None


def make_cid(data: bytes, codec: int) -> str:
    """A CIDv1 (sha2-256) in base32, as the PDS returns: codec 0x71 dag-cbor records, 0x55 raw blobs."""
    digest = hashlib.sha256(data).digest()
    return "b" + base64.b32encode(bytes([0x01, codec, 0x12, 0x20]) + digest).decode().lower().rstrip("=")


def make_tid() -> str:
    alphabet = "234567abcdefghijklmnopqrstuvwxyz"
    value = (time.time_ns() // 1000) << 10 | secrets.randbelow(1024)
    return "".join(alphabet[(value >> (5 * i)) & 31] for i in reversed(range(13)))


class XrpcError(Exception):
    def __init__(self, status: int, error: str, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status, self.error, self.message, self.headers = status, error, message, headers or {}


class XrpcMethods:
    """The XRPC methods the scheduler calls, answered from FakeBluesky's state."""

    def _did_doc(self, account) -> dict:
        return {
            "@context": ["https://www.w3.org/ns/did/v1"],
            "id": account.did,
            "alsoKnownAs": [f"at://{account.handle}"],
            "verificationMethod": [],
            "service": [
                {
                    "id": "#atproto_pds",
                    "type": "AtprotoPersonalDataServer",
                    "serviceEndpoint": self.service_endpoint or self.url,
                }
            ],
        }

    def _issue_session(self, account) -> dict:
        now = int(time.time())
        jti, nonce = secrets.token_urlsafe(16), secrets.token_hex(8)
        self._refresh_tokens[jti] = "valid"
        self._access_nonces.add(nonce)
        access = make_jwt(
            {
                "scope": "com.atproto.access",
                "sub": account.did,
                "aud": "did:web:fake.pds",
                "iat": now,
                "exp": now + self.access_ttl,
                "nonce": nonce,
            },
            "at+jwt",
        )
        refresh = make_jwt(
            {
                "scope": "com.atproto.refresh",
                "sub": account.did,
                "aud": "did:web:fake.pds",
                "iat": now,
                "exp": now + self.refresh_ttl,
                "jti": jti,
            },
            "refresh+jwt",
        )
        return {
            "accessJwt": access,
            "refreshJwt": refresh,
            "handle": account.handle,
            "did": account.did,
            "didDoc": self._did_doc(account),
            "active": True,
        }

    def _account(self, identifier: str):
        identifier = identifier.lower()
        for account in self.accounts.values():
            if identifier in (account.handle, account.did):
                return account
        return None

    def _bearer(self, headers: dict) -> str:
        value = headers.get("authorization", "")
        if not value.startswith("Bearer "):
            raise XrpcError(401, "AuthMissing", "Authentication Required")
        return value[7:]

    def _authed(self, headers: dict):
        payload = read_jwt(self._bearer(headers))
        if payload is None or payload.get("scope") != "com.atproto.access":
            raise XrpcError(401, "InvalidToken", "Token could not be verified")
        if payload["exp"] < time.time() or payload.get("nonce") in self._expired_nonces:
            raise XrpcError(400, "ExpiredToken", "Token has expired")
        account = self._account(payload["sub"])
        if account is None:
            raise XrpcError(401, "InvalidToken", "Token could not be verified")
        return account

    def handle(self, method: str, nsid: str, params: dict, body, headers: dict) -> dict:
        routes = {
            "com.atproto.server.createSession": self._create_session,
            "com.atproto.server.refreshSession": self._refresh_session,
            "com.atproto.server.getSession": self._get_session,
            "com.atproto.identity.resolveHandle": self._resolve_handle,
            "app.bsky.actor.getProfile": self._get_profile,
            "com.atproto.repo.uploadBlob": self._upload_blob,
            "com.atproto.repo.createRecord": self._create_record,
            "com.atproto.repo.getRecord": self._get_record,
            "com.atproto.repo.listRecords": self._list_records,
            "app.bsky.feed.getPosts": self._get_posts,
        }
        route = routes.get(nsid)
        if route is None:
            raise XrpcError(501, "MethodNotImplemented", "Method Not Implemented")
        with self._lock:
            if nsid.startswith("app.bsky."):
                self.appview_answer(nsid, headers)
            return route(params, body, headers)

    def _create_session(self, params, body, headers) -> dict:
        identifier, password = body.get("identifier", ""), body.get("password", "")
        account = self._account(identifier)
        if account is None or (password not in account.passwords and password != account.two_factor_password):
            raise XrpcError(401, "AuthenticationRequired", "Invalid identifier or password")
        if password == account.two_factor_password and not body.get("authFactorToken"):
            raise XrpcError(
                401, "AuthFactorTokenRequired", "A sign in code has been sent to your email address"
            )
        self.logins += 1
        return self._issue_session(account)

    def _refresh_session(self, params, body, headers) -> dict:
        payload = read_jwt(self._bearer(headers))
        if payload is None or payload.get("scope") != "com.atproto.refresh":
            raise XrpcError(400, "InvalidToken", "Token could not be verified")
        if payload["exp"] < time.time():
            self.rejected_refreshes += 1
            raise XrpcError(400, "ExpiredToken", "Token has expired")
        if self._refresh_tokens.get(payload["jti"]) != "valid":
            self.rejected_refreshes += 1
            raise XrpcError(400, "ExpiredToken", "Token has been revoked")
        self._refresh_tokens[payload["jti"]] = "used"
        self.refreshes += 1
        return self._issue_session(self._account(payload["sub"]))

    def _get_session(self, params, body, headers) -> dict:
        account = self._authed(headers)
        return {
            "handle": account.handle,
            "did": account.did,
            "didDoc": self._did_doc(account),
            "active": True,
        }

    def _resolve_handle(self, params, body, headers) -> dict:
        account = self._account(params.get("handle", [""])[0])
        if account is None:
            raise XrpcError(400, "InvalidRequest", "Unable to resolve handle")
        return {"did": account.did}

    def _get_profile(self, params, body, headers) -> dict:
        self._authed(headers)
        account = self._account(params.get("actor", [""])[0])
        if account is None:
            raise XrpcError(400, "InvalidRequest", "Profile not found")
        return {
            "did": account.did,
            "handle": account.handle,
            "displayName": account.display_name,
            "avatar": account.avatar,
            "followersCount": 0,
            "followsCount": 0,
            "postsCount": len(self.posts()),
        }

    def _upload_blob(self, params, body, headers) -> dict:
        self._authed(headers)
        data = body or b""
        if len(data) > self.blob_limit:
            raise XrpcError(
                400,
                "BlobTooLarge",
                f"This file is too large. It is {len(data)} bytes but the maximum size is "
                f"{self.blob_limit} bytes.",
            )
        mime = headers.get("content-type", "application/octet-stream")
        cid = make_cid(data, 0x55)
        self.blobs[cid] = {"mime": mime, "size": len(data), "data": data}
        return {"blob": {"$type": "blob", "ref": {"$link": cid}, "mimeType": mime, "size": len(data)}}

    def _create_record(self, params, body, headers) -> dict:
        account = self._authed(headers)
        if body.get("repo") not in (account.did, account.handle):
            raise XrpcError(401, "AuthRequired", "Can only write to your own repo")
        collection, record = body.get("collection"), body.get("record") or {}
        if record.get("$type") != collection:
            raise XrpcError(400, "InvalidRequest", f"Invalid $type: expected {collection}")
        if collection == "app.bsky.feed.post":
            self._validate_post(record)
        rkey = body.get("rkey") or make_tid()
        if not _TID_RE.match(rkey):
            raise XrpcError(400, "InvalidRequest", "Invalid record key: must be a TID")
        uri = f"at://{account.did}/{collection}/{rkey}"
        if uri in self.records:
            # What the reference PDS historically answered for a duplicate key.
            raise XrpcError(500, "InternalServerError", "Internal Server Error")
        cid = make_cid(json.dumps(record, sort_keys=True).encode(), 0x71)
        self.records[uri] = {"uri": uri, "cid": cid, "value": record, "rkey": rkey, "did": account.did}
        return {
            "uri": uri,
            "cid": cid,
            "commit": {"cid": make_cid(uri.encode(), 0x71), "rev": make_tid()},
            "validationStatus": "valid",
        }

    def _validate_post(self, record: dict) -> None:
        def invalid(message: str):
            raise XrpcError(400, "InvalidRecord", f"Invalid app.bsky.feed.post record: {message}")

        text = record.get("text")
        if not isinstance(text, str):
            invalid('Record must have the property "text"')
        if not isinstance(record.get("createdAt"), str):
            invalid('Record must have the property "createdAt"')
        encoded = text.encode("utf-8")
        if len(encoded) > 3000:
            invalid("Record/text must not be longer than 3000 characters")
        if grapheme.length(text) > 300:
            invalid("Record/text must not be longer than 300 graphemes")
        for number, facet in enumerate(record.get("facets") or []):
            index = facet.get("index") or {}
            start, end = index.get("byteStart"), index.get("byteEnd")
            if not (isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= len(encoded)):
                invalid(f"Record/facets/{number}/index is outside the text")
            for offset in (start, end):
                if offset < len(encoded) and (encoded[offset] & 0xC0) == 0x80:
                    invalid(f"Record/facets/{number}/index splits a character")
            if not facet.get("features"):
                invalid(f"Record/facets/{number} must have features")
        langs = record.get("langs")
        if langs is not None and (not isinstance(langs, list) or len(langs) > 3):
            invalid("Record/langs must not be longer than 3 elements")
        embed = record.get("embed")
        if embed:
            self._validate_embed(embed, invalid)
        reply = record.get("reply")
        if reply:
            for key in ("root", "parent"):
                ref = reply.get(key) or {}
                if not ref.get("uri") or not ref.get("cid"):
                    invalid(f"Record/reply/{key} must have uri and cid")

    def _validate_embed(self, embed: dict, invalid) -> None:
        kind = embed.get("$type")
        if kind == "app.bsky.embed.images":
            images = embed.get("images") or []
            if not images or len(images) > 4:
                invalid("Record/embed/images must have 1 to 4 elements")
            for number, image in enumerate(images):
                if "alt" not in image:
                    invalid(f'Record/embed/images/{number} must have the property "alt"')
                self._check_blob(
                    image.get("image"), f"Record/embed/images/{number}/image", invalid, image=True
                )
        elif kind == "app.bsky.embed.external":
            external = embed.get("external") or {}
            for key in ("uri", "title", "description"):
                if not isinstance(external.get(key), str):
                    invalid(f'Record/embed/external must have the property "{key}"')
            if external.get("thumb"):
                self._check_blob(external["thumb"], "Record/embed/external/thumb", invalid, image=True)
        else:
            invalid(f"Record/embed has an unsupported type {kind}")

    def _check_blob(self, ref, where: str, invalid, image: bool) -> None:
        if not isinstance(ref, dict) or ref.get("$type") != "blob":
            invalid(f"{where} should be a blob ref")
        stored = self.blobs.get((ref.get("ref") or {}).get("$link", ""))
        if stored is None:
            raise XrpcError(
                400, "InvalidRequest", f"Could not find blob: {(ref.get('ref') or {}).get('$link')}"
            )
        if image and not stored["mime"].startswith("image/"):
            invalid(f"{where} has the wrong type {stored['mime']}, expected image/*")
        if stored["size"] > 1_000_000 and where.endswith("thumb"):
            raise XrpcError(400, "BlobTooLarge", "This file is too large.")

    def _get_record(self, params, body, headers) -> dict:
        repo, collection, rkey = (params.get(k, [""])[0] for k in ("repo", "collection", "rkey"))
        account = self._account(repo)
        uri = f"at://{account.did if account else repo}/{collection}/{rkey}"
        record = self.records.get(uri)
        if record is None:
            raise XrpcError(400, "RecordNotFound", f"Could not locate record: {uri}")
        return {"uri": uri, "cid": record["cid"], "value": record["value"]}

    def _list_records(self, params, body, headers) -> dict:
        """Newest record key first (the reference PDS's order without `reverse`); the cursor is the
        last key of the page. Needs no session, as on a real PDS."""
        repo, collection = (params.get(k, [""])[0] for k in ("repo", "collection"))
        limit = int((params.get("limit") or ["50"])[0])
        if not 1 <= limit <= 100:
            raise XrpcError(400, "InvalidRequest", "limit must be between 1 and 100")
        account = self._account(repo)
        if account is None:
            raise XrpcError(400, "InvalidRequest", f"Could not find repo: {repo}")
        cursor = (params.get("cursor") or [""])[0]
        own = [r for r in self.records.values() if r["uri"] == f"at://{account.did}/{collection}/{r['rkey']}"]
        rows = sorted(own, key=lambda r: r["rkey"], reverse=True)
        rows = [r for r in rows if not cursor or r["rkey"] < cursor][:limit]
        answer = {"records": [{"uri": r["uri"], "cid": r["cid"], "value": r["value"]} for r in rows]}
        if len(rows) == limit:
            answer["cursor"] = rows[-1]["rkey"]
        return answer

    def _get_posts(self, params, body, headers) -> dict:
        self._authed(headers)
        uris = params.get("uris", [])
        if len(uris) > 25:
            raise XrpcError(400, "InvalidRequest", "uris must not have more than 25 elements")
        posts = []
        for uri in uris:
            record = self.records.get(uri)
            if record is None:
                continue
            author = self._account(record["did"])
            counts = self.counts.get(
                uri, {"likeCount": 0, "repostCount": 0, "replyCount": 0, "quoteCount": 0}
            )
            posts.append(
                {
                    "uri": uri,
                    "cid": record["cid"],
                    "author": {"did": author.did, "handle": author.handle},
                    "record": record["value"],
                    "indexedAt": record["value"].get("createdAt"),
                    **counts,
                }
            )
        return {"posts": posts}
