from django.urls import URLPattern, URLResolver, include, path

from comptoir.config.api import build_api
from comptoir.config.urls import urlpatterns as project_urlpatterns
from tests.modapp.api import router as modapp_router

# Tests serve /api/v1 from an API that also mounts the test module's router, so the
# production API (comptoir.config.api.api) and its OpenAPI never contain it.
test_api = build_api(extra_routers=[("/modapp", modapp_router)])


def _is_api(pattern: URLPattern | URLResolver) -> bool:
    return str(pattern.pattern) == "api/v1/"


urlpatterns = [
    path("api/v1/", test_api.urls),
    path("modapp/", include("tests.modapp.urls")),
    *[p for p in project_urlpatterns if not _is_api(p)],
]
