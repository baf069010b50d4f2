"""The flattened route table answers exactly as Django's resolver does, on any URL conf."""

from __future__ import annotations

import pytest
from django.urls import Resolver404, get_resolver
from django.urls.resolvers import RegexPattern, RoutePattern
from hypothesis import given, settings
from hypothesis import strategies as st

from kvapp.server.routes import Literal, RouteTable, literal_of, route_table

MAZE = "tests.support.urlconf_maze"

MAZE_PATHS = [
    "/exact",
    "/exact/",
    "/exactly",
    "/api/",
    "/api/a/b/c",
    "/ac/",
    "/abc/",
    "/abbc/",
    "/one/",
    "/two/",
    "/three/",
    "/search",
    "/searching/anything",
    "/q/2024/",
    "/q/24/",
    "/app/",
    "/app/item/7/",
    "/app/item/x-y/",
    "/app/legacy/12/ab",
    "/app/legacy/12/ab/",
    "/app/opts/",
    "/v2/deep/4/",
    "/v2/deep/3/",
    "/v2/item/5/",
    "/v2/opts/",
    "/v2/",
    "/vx/deep/4/",
    "/re/g1/item/9/",
    "/re/g1/legacy/1/z",
    "/re/g1/",
    "/plain/deep/8/",
    "/plain/deep/7/",
    "/plain/legacy/3/q",
    "/",
    "",
    "/anything",
    "/any/thing",
    "no-slash",
    "/exact\n",
    "/ab\nc/",
]
PROJECT_PATHS = [
    "/",
    "/api/v1/kv",
    "/api/v1/kv/",
    "/api/v1/kv/a",
    "/api/v1/kv/a/b/../c",
    "/api/v1/kv/\n",
    "/api/v1/kvx",
    "/api/v1/openapi.json",
    "/get",
    "/get_all",
    "/getx",
    "/add",
    "/healthz",
    "/metrics",
    "/static/app.js",
    "/static/",
    "/API/v1/kv/x",
    "/nope",
    "",
]


def resolved(path: str, urlconf: str | None) -> tuple | None:
    """Everything observable about Django's answer, None for a 404."""
    try:
        match = get_resolver(urlconf).resolve(path)
    except Resolver404:
        return None
    return described(match)


def described(match) -> tuple | None:
    """The fields a view, reverse() or a debug page could read."""
    if match is None:
        return None
    return (
        match.func,
        match.args,
        match.kwargs,
        match.url_name,
        match.route,
        match.app_names,
        match.namespaces,
        match.view_name,
        match.captured_kwargs,
        match.extra_kwargs,
        match.app_name,
        match.namespace,
        repr(match),
    )


@pytest.mark.parametrize("path", MAZE_PATHS)
def test_every_feature_of_a_url_conf_resolves_as_django_does(path: str) -> None:
    assert described(route_table(get_resolver(MAZE)).match(path)) == resolved(path, MAZE)


@pytest.mark.parametrize("path", PROJECT_PATHS)
def test_the_project_urls_resolve_as_django_does(path: str) -> None:
    assert described(route_table(get_resolver()).match(path)) == resolved(path, None)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                "",
                "/",
                "exact",
                "api",
                "app",
                "v2",
                "v",
                "3",
                "4",
                "deep",
                "item",
                "re",
                "x",
                "plain",
                "legacy",
                "ab",
                "c",
                "q",
                "2024",
                "opts",
                "search",
                "one",
                "\n",
                "-",
            ]
        ),
        max_size=7,
    )
)
def test_any_path_resolves_as_django_does(parts: list[str]) -> None:
    path = "/" + "".join(parts)
    assert described(route_table(get_resolver(MAZE)).match(path)) == resolved(path, MAZE)


def test_the_table_is_rebuilt_for_a_new_url_conf() -> None:
    assert route_table(get_resolver(MAZE)) is route_table(get_resolver(MAZE))
    assert route_table(get_resolver(MAZE)) is not route_table(get_resolver())


@pytest.mark.parametrize(
    ("pattern", "endpoint", "expected"),
    [
        (RoutePattern("api/v1/kv", is_endpoint=True), True, Literal("api/v1/kv", whole=True)),
        (RoutePattern("api/<int:pk>/", is_endpoint=True), True, Literal("api/", whole=False)),
        (RoutePattern("app/"), False, Literal("app/", whole=True)),
        (RegexPattern(r"^/"), False, Literal("/", whole=True)),
        (RegexPattern(r"^ab?c/$", is_endpoint=True), True, Literal("a", whole=False)),
        (RegexPattern(r"^a|b$", is_endpoint=True), True, Literal("", whole=False)),
        (RegexPattern(r"^search", is_endpoint=True), True, Literal("search", whole=False)),
        (RegexPattern(r"^exact$", is_endpoint=True), True, Literal("exact", whole=True)),
        (RegexPattern(r"^cost\$$", is_endpoint=True), True, Literal("cost", whole=False)),
        (RegexPattern(r"x$", is_endpoint=True), True, Literal("", whole=False)),
    ],
)
def test_the_literal_filter_never_claims_more_than_the_pattern_requires(
    pattern: object, endpoint: bool, expected: Literal
) -> None:
    assert literal_of(pattern, endpoint=endpoint) == expected


def test_a_route_whose_literal_rules_the_path_out_is_not_tried() -> None:
    table = RouteTable(get_resolver())
    assert [route.route for route in table.routes if route.could_match("/get_all")] == ["get_all"]
    assert [route.route for route in table.routes if route.could_match("/api/v1/kv/a")] == ["api/v1/kv/<anykey:key>"]


def test_a_match_follows_a_swapped_callback_and_owns_its_lists(monkeypatch: pytest.MonkeyPatch) -> None:
    table = route_table(get_resolver(MAZE))
    path = MAZE_PATHS[0]
    first = table.match(path)
    assert first is not None
    first.app_names.append("changed by a caller")
    assert described(table.match(path)) == resolved(path, MAZE)
    route = next(route for route in table.routes if route.could_match(path) and route.match(path) is not None)

    def replacement(request: object) -> None:
        """Another view."""

    monkeypatch.setattr(route.pattern, "callback", replacement)
    assert described(table.match(path)) == resolved(path, MAZE)
    assert table.match(path).func is replacement
