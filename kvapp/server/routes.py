"""The URL conf, flattened once, so the fast path can match a path without Django's resolver walk.

``URLResolver.resolve`` tries every pattern in turn at every level of ``include()``,
builds a ``ResolverMatch`` per level and records what it tried: a large share of a kv
request (``bench/RESULTS.md``, "Measured micro-costs"). The table keeps Django's own
pattern objects in the same depth-first order, so the first route whose whole chain matches
is the one Django picks, with the same ``args``/``kwargs`` merge. What it adds is a literal
pre-filter: the text a route's path must start with (or be equal to), read from its route
strings, so most routes are ruled out by a string comparison instead of a chain of regex
searches.

Any URL conf works (regex or route patterns, converters, default kwargs, namespaces,
translated routes); where the literal text cannot be known, the filter is empty and the
patterns decide. ``tests/server/test_routes.py`` checks the answers against Django's.
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from django.urls import ResolverMatch, URLPattern, URLResolver
from django.urls.resolvers import RegexPattern, RoutePattern

# Characters that stand for themselves in a regex; a prefix made of them is literal text.
_PLAIN_REGEX_CHARS = frozenset(string.ascii_letters + string.digits + "/-_~,;:=@!'\"%& ")
_QUANTIFIERS = frozenset("?*+{")


@dataclass(frozen=True)
class Literal:
    """What a pattern (or chain) is known to require of the path it is given."""

    text: str  # the path must start with this
    # Nothing variable: a prefix pattern consumes exactly ``text``; an endpoint (and so a
    # whole route) matches exactly the path ``text``.
    whole: bool


@dataclass(eq=False)
class Route:
    """One view and the resolvers enclosing it, outermost first (the root included)."""

    resolvers: tuple[URLResolver, ...]
    pattern: URLPattern
    app_names: tuple[str, ...]
    namespaces: tuple[str, ...]
    route: str
    literal: Literal  # for the whole chain, leaf included: ``whole`` means path == text
    literal_levels: int  # how many leading resolvers have purely literal patterns
    literal_prefix: str  # the text those resolvers consume
    # What ResolverMatch.__init__ derives from the callback and names alone, worked out once
    # per callback (tests may swap a pattern's callback): (callback, attributes).
    _template: tuple[Any, dict[str, Any]] | None = field(default=None, init=False, repr=False)
    # Every enclosing resolver is literal and adds no kwargs: merging them changes nothing.
    plain: bool = field(init=False)

    def __post_init__(self) -> None:
        self.plain = self.literal_levels == len(self.resolvers) and not any(r.default_kwargs for r in self.resolvers)

    def could_match(self, path: str) -> bool:
        """False when the literal text alone rules ``path`` out."""
        return path == self.literal.text if self.literal.whole else path.startswith(self.literal.text)

    def match(self, path: str) -> ResolverMatch | None:
        """Django's ``resolve`` answer for ``path`` if this route takes it (``could_match`` first)."""
        if self.plain:
            matched = self.pattern.pattern.match(path[len(self.literal_prefix) :])
            if matched is None:
                return None
            _, args, captured = matched
            return self._resolver_match(
                args, {**captured, **self.pattern.default_args}, captured, dict(self.pattern.default_args)
            )
        # Leading resolvers with a purely literal pattern are known to have consumed their
        # text and captured nothing once could_match() passed; the rest are asked.
        levels: list[tuple[tuple[Any, ...], dict[str, Any], dict[str, Any]]] = [
            ((), {}, resolver.default_kwargs) for resolver in self.resolvers[: self.literal_levels]
        ]
        path = path[len(self.literal_prefix) :]
        for resolver in self.resolvers[self.literal_levels :]:
            matched = resolver.pattern.match(path)
            if matched is None:
                return None
            path, args, kwargs = matched
            levels.append((args, kwargs, resolver.default_kwargs))
        matched = self.pattern.pattern.match(path)
        if matched is None:
            return None
        _, args, captured = matched
        kwargs = {**captured, **self.pattern.default_args}
        extra = dict(self.pattern.default_args)
        # Merge outwards exactly as each URLResolver.resolve does with its sub-match.
        for outer_args, outer_kwargs, defaults in reversed(levels):
            merged = {**outer_kwargs, **defaults, **kwargs}
            args = args if merged else outer_args + args
            kwargs = merged
            extra = {**defaults, **extra}
        return self._resolver_match(args, kwargs, captured, extra)

    def _resolver_match(
        self, args: tuple[Any, ...], kwargs: dict[str, Any], captured: dict[str, Any], extra: dict[str, Any]
    ) -> ResolverMatch:
        """``ResolverMatch(...)`` as ``resolve`` builds it, from the attributes it derives once."""
        callback = self.pattern.callback
        if self._template is None or self._template[0] is not callback:
            made = ResolverMatch(
                callback, (), {}, self.pattern.pattern.name, list(self.app_names), list(self.namespaces), self.route
            )
            self._template = (callback, vars(made))
        attributes = self._template[1]
        match = ResolverMatch.__new__(ResolverMatch)
        match.__dict__.update(attributes)
        match.args = args
        match.kwargs = kwargs
        match.captured_kwargs = captured
        match.extra_kwargs = extra
        match.app_names = list(attributes["app_names"])  # lists: each match gets its own
        match.namespaces = list(attributes["namespaces"])
        return match


class RouteTable:
    """Every route of one URL conf in Django's matching order."""

    def __init__(self, root: URLResolver) -> None:
        self.routes = tuple(_flatten(root, (), (), (), "", Literal("", True)))

    def match(self, path: str) -> ResolverMatch | None:
        """The match Django's resolver would return for ``path``, or None where it raises Resolver404."""
        for route in self.routes:
            if route.could_match(path) and (found := route.match(path)) is not None:
                return found
        return None


@lru_cache(maxsize=8)
def route_table(root: URLResolver) -> RouteTable:
    """The table for a resolver from ``get_resolver()``; a new URL conf brings a new resolver."""
    return RouteTable(root)


def _flatten(
    resolver: URLResolver,
    enclosing: tuple[URLResolver, ...],
    app_names: tuple[str, ...],
    namespaces: tuple[str, ...],
    route: str,
    literal: Literal,
) -> list[Route]:
    """Depth-first, in URL conf order: the order Django tries patterns in."""
    enclosing = (*enclosing, resolver)
    app_names = (*app_names, resolver.app_name) if resolver.app_name else app_names
    namespaces = (*namespaces, resolver.namespace) if resolver.namespace else namespaces
    literal = _then(literal, literal_of(resolver.pattern, endpoint=False))
    literal_levels, literal_prefix = (len(enclosing), literal.text) if literal.whole else (0, "")
    routes: list[Route] = []
    for pattern in resolver.url_patterns:
        inner_route = _join_route(route, str(pattern.pattern))
        if isinstance(pattern, URLPattern):
            full = _then(literal, literal_of(pattern.pattern, endpoint=True))
            routes.append(
                Route(enclosing, pattern, app_names, namespaces, inner_route, full, literal_levels, literal_prefix)
            )
        else:
            routes.extend(_flatten(pattern, enclosing, app_names, namespaces, inner_route, literal))
    return routes


def literal_of(pattern: Any, *, endpoint: bool) -> Literal:
    """The literal text ``pattern`` requires at the start of its path; empty when unknown."""
    if isinstance(pattern, RoutePattern) and isinstance(pattern._route, str):
        text, converter, _ = pattern._route.partition("<")
        return Literal(text, whole=not converter)
    if isinstance(pattern, RegexPattern) and isinstance(pattern._regex, str):
        return _regex_literal(pattern._regex, endpoint=endpoint)
    return Literal("", whole=False)  # translated routes, locale prefixes, custom patterns


def _regex_literal(regex: str, *, endpoint: bool) -> Literal:
    """The plain characters after a leading ``^``; anything clever ends the literal part."""
    if not regex.startswith("^") or "|" in regex:
        return Literal("", whole=False)
    body = regex[1:]
    anchored = endpoint and body.endswith("$") and not body.endswith("\\$")
    if anchored:
        body = body[:-1]  # Django fullmatches an endpoint regex that ends in $
    plain = 0
    while plain < len(body) and body[plain] in _PLAIN_REGEX_CHARS:
        plain += 1
    if plain < len(body) and body[plain] in _QUANTIFIERS:
        plain = max(plain - 1, 0)  # "ab?" makes the b optional
    # An endpoint without a final $ is searched, so it takes anything after its literal part.
    return Literal(body[:plain], whole=plain == len(body) and (anchored or not endpoint))


def _then(outer: Literal, inner: Literal) -> Literal:
    """The literal for ``inner`` matched on what ``outer`` leaves of the path."""
    if not outer.whole:
        return outer
    return Literal(outer.text + inner.text, inner.whole)


def _join_route(outer: str, inner: str) -> str:
    """How ResolverMatch.route is spelled: inner routes lose a leading ``^``."""
    return inner if not outer else outer + inner.removeprefix("^")
