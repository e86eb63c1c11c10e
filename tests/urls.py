from django.urls import include, path

from comptoir.config.urls import urlpatterns as project_urlpatterns

urlpatterns = [path("modapp/", include("tests.modapp.urls")), *project_urlpatterns]
