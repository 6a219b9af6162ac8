"""Every API error is JSON: {"error": "<a sentence>", "fields": {"<field>": ["<sentence>", ...]}}.

Bad input is a 4xx with a reason, never a 500: malformed JSON, wrong types, unknown codes and
out-of-range values are all caught here or by the schemas.
"""

import logging

from django.core.exceptions import PermissionDenied, RequestDataTooBig, SuspiciousOperation
from django.http import Http404, HttpResponse, JsonResponse, UnreadablePostError
from django.http.multipartparser import MultiPartParserError
from ninja.errors import AuthenticationError, HttpError, Throttled, ValidationError

from channels import networks
from posts.composing import PostInvalid

log = logging.getLogger(__name__)


class ApiError(Exception):
    def __init__(self, status: int, message: str, fields: dict | None = None, headers: dict | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.fields = fields or {}
        self.headers = headers or {}


def error_response(status: int, message: str, fields: dict | None = None, headers=None) -> HttpResponse:
    body = {"error": message}
    if fields:
        body["fields"] = fields
    response = JsonResponse(body, status=status)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def _field_name(loc: tuple) -> str:
    # ninja prefixes the location with the source ("body", "query", "path", "header", "form", "file")
    # and, for a schema parameter, its name ("payload", "filters", "form").
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header", "form", "file", "cookie"):
        parts = parts[1:]
    if parts and parts[0] in ("payload", "filters", "form"):
        parts = parts[1:]
    # Discriminated unions add the tag as a path element ("bluesky"); it means nothing to a client.
    parts = [p for p in parts if p not in networks.NETWORKS]
    return ".".join(parts) or "body"


def _message(error: dict) -> str:
    message = str(error.get("msg", "Not valid."))
    return message.removeprefix("Value error, ").removeprefix("Assertion failed, ")


def on_validation_error(request, exc: ValidationError):
    fields: dict[str, list[str]] = {}
    for error in exc.errors:
        field, message = _field_name(tuple(error.get("loc", ()))), _message(error)
        if str(error.get("type", "")).startswith("union_tag_"):
            # A missing or unknown "network": name that field, not the whole body.
            tag = str(error.get("ctx", {}).get("discriminator", "")).strip("'\"")
            field = tag if field == "body" else f"{field}.{tag}"
            expected = error.get("ctx", {}).get("expected_tags", "")
            message = f"Choose one of: {expected}." if expected else "This field is required."
        fields.setdefault(field, []).append(message)
    names = ", ".join(sorted(fields))
    return error_response(400, f"Some fields are not valid: {names}.", fields)


def on_api_error(request, exc: ApiError):
    return error_response(exc.status, exc.message, exc.fields, exc.headers)


def on_http_error(request, exc: HttpError):
    if isinstance(exc, AuthenticationError):
        return error_response(
            401,
            "Send an API token in the Authorization header: Authorization: Bearer osk_...",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if isinstance(exc, Throttled):
        return error_response(429, "Too many requests: slow down.")
    if exc.status_code == 400 and str(exc).startswith("Cannot parse request body"):
        return error_response(400, "The request body is not valid JSON.", {"body": ["Send a JSON object."]})
    return error_response(exc.status_code, str(exc))


def on_not_found(request, exc):
    return error_response(404, "Not found (or not in this token's workspace).")


def on_permission_denied(request, exc):
    return error_response(403, str(exc) or "Your role cannot do this.")


def on_post_invalid(request, exc: PostInvalid):
    return error_response(400, str(exc) or "The post is not valid.", exc.errors)


def on_too_big(request, exc):
    return error_response(413, "The request is too large.")


def on_unreadable(request, exc):
    return error_response(400, UNREADABLE, {"body": ["Send JSON, or multipart/form-data for uploads."]})


UNREADABLE = "The request body could not be read."


def on_unexpected(request, exc):
    log.exception("API request %s %s failed", request.method, request.path, exc_info=exc)
    return error_response(
        500, "Something went wrong on our side. It has been logged; please try again later."
    )


def install(api) -> None:
    api.add_exception_handler(ValidationError, on_validation_error)
    api.add_exception_handler(ApiError, on_api_error)
    api.add_exception_handler(HttpError, on_http_error)
    api.add_exception_handler(Http404, on_not_found)
    api.add_exception_handler(PermissionDenied, on_permission_denied)
    api.add_exception_handler(PostInvalid, on_post_invalid)
    api.add_exception_handler(RequestDataTooBig, on_too_big)
    for unreadable in (MultiPartParserError, SuspiciousOperation, UnreadablePostError):
        api.add_exception_handler(unreadable, on_unreadable)
    api.add_exception_handler(Exception, on_unexpected)
