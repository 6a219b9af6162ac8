"""Idempotency-Key on POST: a repeated key gets the first answer again, status and body alike.

The key is scoped to the token. The first request claims the key (a committed row without an
answer), does its work and stores its answer; for writes made only in the database the work and the
stored answer commit together, so a crash leaves neither. A repeat with another body (or another
endpoint) is refused with 422; a repeat while the first is still running gets 409. Answers of 5xx
are not kept, so the client can try again. Keys are kept for a day.
"""

import hashlib
import json
from datetime import timedelta
from functools import wraps

from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.db import IntegrityError, transaction
from django.http import HttpResponse, UnreadablePostError
from django.http.multipartparser import MultiPartParserError
from django.utils.timezone import now

from api.auth import token_auth
from api.errors import ApiError, error_response, on_unreadable
from api.models import IdempotencyRecord

HEADER = "Idempotency-Key"
KEEP_FOR = timedelta(hours=24)
# A claim older than this without an answer belongs to a request that died: the key may be reused.
ABANDONED_AFTER = timedelta(minutes=10)


def _valid_key(key: str) -> bool:
    return 1 <= len(key) <= 255 and all(32 <= ord(c) < 127 for c in key)


def fingerprint(request) -> str:
    digest = hashlib.sha256(f"{request.method} {request.path}\n".encode())
    content_type = request.content_type or ""
    if content_type.startswith("multipart/"):
        # The multipart boundary changes between retries of the same upload: hash the content.
        for name in sorted(request.POST):
            for value in request.POST.getlist(name):
                digest.update(f"field {name}={value}\n".encode("utf-8", "surrogatepass"))
        for name in sorted(request.FILES):
            for upload in request.FILES.getlist(name):
                digest.update(f"file {name} {upload.name} {upload.size}\n".encode("utf-8", "surrogatepass"))
                for chunk in upload.chunks():
                    digest.update(chunk)
                upload.seek(0)
        return digest.hexdigest()
    body = request.body
    try:
        # The same JSON with other spacing or key order is the same request.
        body = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
    except (ValueError, RecursionError):
        pass
    digest.update(body)
    return digest.hexdigest()


def _claim(token, key: str, print_: str) -> tuple[IdempotencyRecord, bool]:
    try:
        with transaction.atomic():
            record = IdempotencyRecord.objects.create(token=token, key=key, fingerprint=print_)
    except IntegrityError:
        return IdempotencyRecord.objects.get(token=token, key=key), False
    IdempotencyRecord.objects.filter(token=token, created__lt=now() - KEEP_FOR).delete()
    return record, True


def _replay(record: IdempotencyRecord) -> HttpResponse:
    response = HttpResponse(record.body, status=record.status_code, content_type=record.content_type)
    response["Idempotent-Replayed"] = "true"
    return response


def idempotent(atomic: bool = True):
    """Wrap a ninja operation's run (with ninja.decorators.decorate_view).

    `atomic=False` for work that calls a network (connecting a channel): holding a database
    transaction open across it would block other writers; such work must be safe to repeat.
    """

    def decorator(run):
        @wraps(run)
        def wrapper(request, *args, **kwargs):
            key = request.headers.get(HEADER)
            if key is None:
                return run(request, *args, **kwargs)
            try:
                caller = token_auth(request)
            except ApiError:
                caller = None
            if caller is None:
                return run(request, *args, **kwargs)  # answers the authentication error
            if not _valid_key(key):
                return error_response(
                    400,
                    "The Idempotency-Key header must be 1 to 255 printable ASCII characters.",
                    {HEADER: ["Use a unique value per request, such as a UUID."]},
                )
            try:
                print_ = fingerprint(request)
            except RequestDataTooBig:
                return error_response(413, "The request is too large.")
            except (MultiPartParserError, SuspiciousOperation, UnreadablePostError) as exc:
                return on_unreadable(request, exc)
            record, created = _claim(caller.token, key, print_)
            if not created:
                if record.fingerprint != print_:
                    return error_response(
                        422,
                        "This Idempotency-Key was already used for a different request. "
                        "Use a new key for a new request.",
                        {HEADER: ["Already used with another body or endpoint."]},
                    )
                if record.status_code is not None:
                    return _replay(record)
                stale = now() - ABANDONED_AFTER
                taken = IdempotencyRecord.objects.filter(
                    pk=record.pk, status_code=None, created__lt=stale
                ).update(created=now())
                if not taken:
                    return error_response(
                        409,
                        "A request with this Idempotency-Key is still being handled. Try again shortly.",
                        headers={"Retry-After": "1"},
                    )
            try:
                if atomic:
                    with transaction.atomic():
                        response = run(request, *args, **kwargs)
                        if response.status_code >= 500:
                            transaction.set_rollback(True)
                        else:
                            _store(record, response)
                else:
                    response = run(request, *args, **kwargs)
                    if response.status_code < 500:
                        _store(record, response)
            except BaseException:
                IdempotencyRecord.objects.filter(pk=record.pk, status_code=None).delete()
                raise
            if response.status_code >= 500:
                IdempotencyRecord.objects.filter(pk=record.pk, status_code=None).delete()
            return response

        return wrapper

    return decorator


def _store(record: IdempotencyRecord, response: HttpResponse) -> None:
    IdempotencyRecord.objects.filter(pk=record.pk).update(
        status_code=response.status_code,
        content_type=response.get("Content-Type", "application/json"),
        body=response.content.decode(),
    )


# For the OpenAPI schema of every POST (router.post(..., openapi_extra=OPENAPI)).
OPENAPI = {
    "parameters": [
        {
            "in": "header",
            "name": HEADER,
            "required": False,
            "description": "A unique value (e.g. a UUID): a repeat of the request answers the first result.",
            "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[ -~]+$"},
        }
    ]
}
