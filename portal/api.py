"""The REST API root (django-ninja). Each app owns its router; this file mounts them.

Authentication: the browser session (with CSRF) or a per-user API key sent as
`Authorization: Bearer <key>` (stored hashed, see portal.models.ApiKey).
"""
from ninja import NinjaAPI
from ninja.security import HttpBearer, SessionAuth


class ApiKeyAuth(HttpBearer):
    def authenticate(self, request, token):
        from portal.services import user_for_api_key

        user = user_for_api_key(token)
        if user is not None:
            request.user = user
        return user


api = NinjaAPI(
    title="Modal operations portal API",
    version="1.0",
    auth=[ApiKeyAuth(), SessionAuth()],
    urls_namespace="api",
)

api.add_router("/datasets", "datasets.api.router")
api.add_router("/jobs", "jobs.api.router")
api.add_router("/credits", "credits.api.router")
api.add_router("/meshing", "meshing.api.router")
api.add_router("/research", "research.api.router")
