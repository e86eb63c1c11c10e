from django.http import HttpResponse
from django.urls import path

app_name = "modapp"

urlpatterns = [path("", lambda request: HttpResponse("modapp index"), name="index")]
