"""The REST API, /api/v1/ (django-ninja). The workspace is the token's; it is never in the URL."""

from ninja import NinjaAPI, Router

from api import errors
from api.auth import rate_limit_per_minute, token_auth
from api.endpoints import channels, deliveries, media, posts
from api.schemas import ERRORS, MeOut
from workspaces.models import ROLE_PERMS

DESCRIPTION = """
Schedule and publish posts to the networks this server connects to (see `network` on a channel).

**Authentication**: create a token on the workspace's *API tokens* page and send it as
`Authorization: Bearer osk_...`. A token belongs to one person in one workspace and can do what
that person's role can do there, now.

**Errors** are JSON: `{"error": "a sentence", "fields": {"field": ["reason", ...]}}`.

**Idempotency**: send `Idempotency-Key: <unique value>` with a POST; repeating it (within a day)
answers the first result again instead of doing the work twice. The same key with a different
request is refused with 422.

**Rate limit**: per token, per minute; over it, 429 with `Retry-After` (seconds).

**Times** are ISO 8601; answers are in UTC.
"""


class SchedulerAPI(NinjaAPI):
    def get_openapi_operation_id(self, operation) -> str:
        return operation.view_func.__name__  # list_posts, create_post, ... (unique across the API)


api = SchedulerAPI(
    title="Open Scheduler API",
    version="1",
    description=DESCRIPTION,
    urls_namespace="api:v1",
    auth=token_auth,
    docs_url=None,  # api/views.py serves the docs page, under the site's CSP
    openapi_url="/openapi.json",
)
errors.install(api)

me_router = Router(tags=["workspace"])


@me_router.get("/me", response={200: MeOut, **ERRORS}, summary="The token's workspace and role")
def me(request):
    membership = request.auth.membership
    workspace = membership.workspace
    return {
        "workspace": {
            "code": workspace.code,
            "name": workspace.name,
            "slug": workspace.slug,
            "timezone": workspace.timezone,
        },
        "username": membership.user.get_username(),
        "role": membership.role,
        "permissions": sorted(ROLE_PERMS.get(membership.role, ())),
        "token_name": request.auth.token.name,
        "rate_limit_per_minute": rate_limit_per_minute(),
    }


api.add_router("", me_router)
api.add_router("", channels.router)
api.add_router("", posts.router)
api.add_router("", media.router)
api.add_router("", deliveries.router)
