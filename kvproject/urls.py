"""Root URL configuration: everything lives in kvapp."""

from django.urls import include, path

urlpatterns = [path("", include("kvapp.urls"))]

handler400 = "kvapp.http.fallback.bad_request"
handler404 = "kvapp.http.fallback.not_found"
handler500 = "kvapp.http.fallback.server_error"
