"""The server span's name (``POST /predict/batch``) before the app has routed the request.

A head sampler decides when the span starts, and a per-operation one (``jaeger_remote``) needs the route
template then, not at the end when the router has set ``scope["route"]``. :class:`RouteNames` matches
the request against the Starlette/FastAPI app's routes the way its router will (first full match, else
first partial one, e.g. a 405) using the routes' public ``matches``; any other ASGI app, or no match,
gives the method alone, as before routing.

Answers for routes without path parameters are cached per (method, path), so the cache holds at most
routes x methods entries whatever paths clients send; other requests are matched each time.
"""

from __future__ import annotations

from typing import Any

from starlette.routing import Match
from starlette.types import Scope


class RouteNames:
    """``span_name(scope, method)``: ``"<method> <route template>"``, or the method when no route matches."""

    def __init__(self) -> None:
        self._cache: dict[tuple[str, str], str] = {}

    def span_name(self, scope: Scope, method: str) -> str:
        """The name for a request of ``scope`` with normalised ``method`` (``_OTHER`` names it ``HTTP``)."""
        key = (scope["method"], scope["path"])
        name = self._cache.get(key)
        if name is not None:
            return name
        shown = method if method != "_OTHER" else "HTTP"
        route = _matching_route(scope)
        template = getattr(route, "path", None)
        if not isinstance(template, str):
            return shown
        name = f"{shown} {template}"
        if not getattr(route, "param_convertors", None) and method != "_OTHER":  # a fixed path: one entry per route and method
            self._cache[key] = name
        return name


def _matching_route(scope: Scope) -> Any:
    """The route the app's router will hand ``scope`` to, or None (not a Starlette app, or nothing matches)."""
    router = getattr(scope.get("app"), "router", None)
    partial = None
    for route in getattr(router, "routes", ()):
        try:
            match, _ = route.matches(scope)
        except Exception:  # noqa: BLE001, S112 - a custom route failing to match must not fail the request; the router decides
            continue
        if match is Match.FULL:
            return route
        if match is Match.PARTIAL and partial is None:
            partial = route
    return partial
