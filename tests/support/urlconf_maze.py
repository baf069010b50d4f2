"""A URL conf with every feature the route table must get right, for tests/test_route_table.py."""

from django.http import HttpRequest, HttpResponse
from django.urls import include, path, re_path


def view(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
    """Never called: the tests only resolve."""
    return HttpResponse()


def other(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
    """A second view, so a wrong pick shows."""
    return HttpResponse()


class EvenOnly:
    """A converter that refuses odd numbers, so matching must fall through to later routes."""

    regex = "[0-9]+"

    def to_python(self, value: str) -> int:
        """Called on the matched segment; ValueError means 'not this route'."""
        if int(value) % 2:
            raise ValueError("odd")
        return int(value)

    def to_url(self, value: int) -> str:
        """Called by reverse()."""
        return str(value)


from django.urls import register_converter  # noqa: E402

register_converter(EvenOnly, "even")

inner = [
    path("", view, name="inner-root"),
    path("item/<int:pk>/", view, name="inner-item"),
    path("item/<slug:slug>/", other, name="inner-slug"),
    re_path(r"^legacy/(\d+)/(\w+)$", view, name="inner-positional"),
    path("opts/", view, {"flag": True}, name="inner-defaults"),
]

nested = [
    path("deep/<even:n>/", view, name="deep-even"),
    path("deep/<int:n>/", other, name="deep-int"),
    path("", include((inner, "innerapp"), namespace="inner2")),
]

urlpatterns = [
    path("exact", view, name="exact"),
    path("exact/", other, name="exact-slash"),
    path("api/<path:rest>", view, name="api-rest"),
    re_path(r"^ab?c/$", view, name="optional-b"),
    re_path(r"^(?:one|two)/$", other, name="alternation"),
    re_path(r"^search", view, name="unanchored-end"),
    re_path(r"^q/(?P<year>[0-9]{4})/$", view, name="named-regex"),
    path("app/", include((inner, "app"), namespace="app1")),
    path("v<int:version>/", include(nested), {"section": "versioned"}),
    re_path(r"^re/(?P<group>\w+)/", include(inner)),
    re_path(r"^plain/", include(nested)),
    path("<str:anything>", other, name="catch-all"),
]
