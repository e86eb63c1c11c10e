"""URLconf for error-page tests: the real URLs plus views that fail on purpose."""

from django.urls import path

from comptoir.kernel.errors import Conflict
from tests.urls import urlpatterns as real_urlpatterns


def boom(request):  # type: ignore[no-untyped-def]
    raise RuntimeError("unexpected failure")


def conflict(request):  # type: ignore[no-untyped-def]
    raise Conflict("demo_conflict", "That cannot happen now.")


urlpatterns = [path("boom/", boom), path("conflict/", conflict), *real_urlpatterns]
