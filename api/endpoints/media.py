"""Image upload, checked by the composer's own upload code (a whole image of an accepted type and size)."""

from uuid import UUID

from django.conf import settings
from ninja import File, Form, Router, Status
from ninja.decorators import decorate_view
from ninja.files import UploadedFile as NinjaUploadedFile

from api.auth import require
from api.errors import ApiError, error_response
from api.idempotency import OPENAPI as IDEMPOTENCY_DOC
from api.idempotency import idempotent
from api.present import media_out
from api.schemas import ERRORS, POST_ERRORS, ErrorOut, MediaForm, MediaOut
from posts.media import NoRoom, UploadRefused, store_upload
from posts.models import Media
from workspaces.access import get_for_workspace
from workspaces.models import Perm

router = Router(tags=["media"])

DEFAULT_MAX_UPLOAD_BYTES = 20 * 1024 * 1024


def max_upload_bytes() -> int:
    return int(getattr(settings, "MEDIA_MAX_UPLOAD_BYTES", DEFAULT_MAX_UPLOAD_BYTES))


def _too_large() -> str:
    return f"The file is too large: the limit is {max_upload_bytes() // (1024 * 1024)} MB."


def refuse_huge_bodies(run):
    """Answer 413 from the Content-Length, before Django spools a huge upload to disk."""

    def wrapper(request, *args, **kwargs):
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > max_upload_bytes() + 64 * 1024:
            return error_response(413, _too_large(), {"file": [_too_large()]})
        return run(request, *args, **kwargs)

    return wrapper


@router.post(
    "/media",
    response={201: MediaOut, **POST_ERRORS, 507: ErrorOut},
    summary="Upload an image",
    description=(
        "multipart/form-data with `file` (JPEG, PNG, GIF or WebP) and optional `alt_text`. Answers the "
        "image's code, to reference from a post's parts. The stored image keeps no metadata (EXIF, GPS, "
        "XMP, IPTC, comments; the ICC colour profile stays) and is turned upright. 507 when the server "
        "has no room to store it: try again later."
    ),
    openapi_extra=IDEMPOTENCY_DOC,
)
@decorate_view(idempotent(), refuse_huge_bodies)
def upload_media(request, file: File[NinjaUploadedFile], form: Form[MediaForm]):
    alt_text = form.alt_text
    require(request, Perm.COMPOSE)
    if file.size > max_upload_bytes():
        raise ApiError(413, _too_large(), {"file": [_too_large()]})
    try:
        media = store_upload(request.auth.workspace, file)
    except NoRoom as exc:
        raise ApiError(507, exc.message) from None
    except UploadRefused as exc:
        raise ApiError(400, exc.message, {"file": [exc.message]}) from None
    if alt_text:
        media.alt_text = alt_text
        media.save(update_fields=["alt_text"])
    return Status(201, media_out(media))


@router.get("/media/{code}", response={200: MediaOut, **ERRORS}, summary="Get an uploaded image")
def get_media(request, code: UUID):
    return media_out(get_for_workspace(Media, request.auth.workspace, code=code))
