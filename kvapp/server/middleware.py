"""The configured middleware's hooks, run inline on the event loop for the fast path.

Only middleware whose hooks read the request and set response headers qualifies (no I/O,
no database, no state): calling them inline is what Django would do in a thread, minus
the thread. Any other middleware in settings turns the fast path off, because skipping it
would make the two paths answer differently.

What these two classes add to a kv response depends only on whether the request is
secure, which headers the view already set, the response's ``xframe_options_exempt``
flag, and settings; their request hooks answer nothing unless SECURE_SSL_REDIRECT is on.
So the headers they add are worked out by running them, once per such combination, and
then copied onto later responses of the same shape (about a sixth of a kv GET went to
the hooks). A setting change forgets what was learned.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Awaitable, Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils.module_loading import import_string

from kvapp.http.memo import remember
from kvapp.http.responses import KVResponse

logger = logging.getLogger(__name__)

INLINE_SAFE_MIDDLEWARE = frozenset(
    {
        "django.middleware.security.SecurityMiddleware",
        "django.middleware.clickjacking.XFrameOptionsMiddleware",
    }
)
MAX_SHAPES = 64  # combinations of (secure, headers present, exempt); a handful in practice

View = Callable[[HttpRequest], Awaitable[HttpResponse]]

_instances: weakref.WeakSet[InlineMiddleware] = weakref.WeakSet()  # what ``forget_learned`` clears
Shape = tuple[bool, tuple[str, ...], bool]
Added = tuple[tuple[str, tuple[str, str]], ...]  # (lower-case name, (name, value)) in order


def _no_inner_handler(request: HttpRequest) -> HttpResponse:
    """Stands in for ``get_response``: inline middleware is never asked to call onwards."""
    raise RuntimeError("inline middleware must not call get_response")


class InlineMiddleware:
    """The configured middleware's request and response hooks, called in Django's order."""

    def __init__(self, paths: list[str]) -> None:
        instances = [import_string(path)(_no_inner_handler) for path in paths]
        self.request_hooks = [getattr(middleware, "process_request", None) for middleware in instances]
        self.response_hooks = [getattr(middleware, "process_response", None) for middleware in instances]
        # Read when SecurityMiddleware reads it (at construction): with it on, its request
        # hook may answer, and everything runs per request as in Django.
        self.request_hooks_may_answer = bool(settings.SECURE_SSL_REDIRECT)
        self._added: dict[Shape, Added | None] = {}  # None: this shape is not safe to copy
        _instances.add(self)

    @classmethod
    def from_settings(cls) -> InlineMiddleware | None:
        """The inline chain, or None if some configured middleware cannot be run inline."""
        unsafe = [path for path in settings.MIDDLEWARE if path not in INLINE_SAFE_MIDDLEWARE]
        if unsafe:
            logger.warning("fast path off: middleware %s cannot run inline", ", ".join(unsafe))
            return None
        return cls(list(settings.MIDDLEWARE))

    async def run(self, request: HttpRequest, view: View) -> HttpResponse:
        """Outer to inner ``process_request`` (any may answer early), the view, then back out."""
        if self.request_hooks_may_answer:
            return await self._run_every_hook(request, view)
        response = await view(request)
        if type(response) is not KVResponse:
            return self._respond_through_hooks(request, response)
        try:
            secure = request.is_secure()
        except Exception:
            # E.g. a malformed SECURE_PROXY_SSL_HEADER. The hooks may never ask (HSTS off):
            # running them decides, as in Django, whether this request fails.
            return self._respond_through_hooks(request, response)
        exempt = bool(getattr(response, "xframe_options_exempt", False))
        shape = (secure, tuple(response.headers._store), exempt)
        try:
            added = self._added[shape]
        except KeyError:
            return self._learn(shape, request, response)
        if added is None:
            return self._respond_through_hooks(request, response)
        response.headers._store.update(added)
        return response

    async def _run_every_hook(self, request: HttpRequest, view: View) -> HttpResponse:
        """Django's order exactly: a request hook that answers skips the view and inner hooks."""
        response = None
        entered = 0
        for hook in self.request_hooks:
            entered += 1
            if hook is not None and (response := hook(request)) is not None:
                break
        if response is None:
            response = await view(request)
        return self._respond_through_hooks(request, response, entered)

    def _respond_through_hooks(
        self, request: HttpRequest, response: HttpResponse, entered: int | None = None
    ) -> HttpResponse:
        """Inner to outer ``process_response`` of the middleware that was entered (default: all)."""
        for hook in reversed(self.response_hooks[:entered]):
            if hook is not None:
                response = hook(request, response)
        return response

    def _learn(self, shape: Shape, request: HttpRequest, response: KVResponse) -> HttpResponse:
        """Run the hooks for real and remember what they added, if adding is all they did."""
        before = dict(response.headers._store)
        cookies = len(response.cookies)
        answer = self._respond_through_hooks(request, response)
        store = answer.headers._store
        only_added = (
            answer is response
            and len(answer.cookies) == cookies
            and all(store.get(name) == pair for name, pair in before.items())
        )
        added = tuple((name, pair) for name, pair in store.items() if name not in before)
        remember(self._added, shape, added if only_added else None, MAX_SHAPES)
        return answer

    def forget(self) -> None:
        """Called when a setting changes (tests): the hooks may now add something else."""
        self._added.clear()


def forget_learned() -> None:
    """Called when a setting changes (``kvapp.apps``): every chain relearns what its hooks add."""
    for chain in list(_instances):
        chain.forget()
