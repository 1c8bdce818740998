"""The server span's name (``POST /predict/batch``) before the app has routed the request.

A head sampler decides when the span starts, and a per-operation one (``jaeger_remote``) needs the route
template then, not at the end when the router has set ``scope["route"]``. :class:`RouteNames` finds it
two ways, with public APIs only:

* **ahead**, by matching the Starlette/FastAPI app's routes as its router will (first full match, else
  first partial one, e.g. a 405) with the routes' ``matches``; this sees routes added directly to the
  app, not those behind FastAPI's ``include_router`` wrapper, which reveals nothing before it handles;
* **learned**: after each request the middleware passes the route the router chose (:meth:`learn`), so
  from then on that route is known ahead: its fixed path directly, a template with parameters
  (``/items/{id}``) through its compiled pattern (``starlette.routing.compile_path``).

So at most the first request of each route in a process is named by its method alone (and sampled as
an unlisted operation). Memory stays bounded whatever paths clients send: entries are per route and
method, never per concrete path of a parameterised route, and unmatched paths are never stored.
"""

from __future__ import annotations

import re
from typing import Any

from starlette.routing import Match, compile_path
from starlette.types import Scope


class RouteNames:
    """``span_name(scope, method)``: ``"<method> <route template>"``, or the method when the route is not known yet."""

    def __init__(self) -> None:
        self._fixed: dict[tuple[str, str], str] = {}  # (raw method, path) of routes without parameters -> name
        self._patterns: list[tuple[str, re.Pattern[str], str]] = []  # (raw method, compiled template, name)
        self._learned: set[tuple[str, str]] = set()  # (raw method, template) already in _patterns

    def span_name(self, scope: Scope, method: str) -> str:
        """The name for a request of ``scope`` with normalised ``method`` (``_OTHER`` names it ``HTTP``)."""
        raw, path = scope["method"], scope["path"]
        name = self._fixed.get((raw, path))
        if name is not None:
            return name
        for known_method, pattern, known_name in self._patterns:
            if known_method == raw and pattern.match(path):
                return known_name
        shown = method if method != "_OTHER" else "HTTP"
        template = getattr(_matching_route(scope), "path", None)
        if not isinstance(template, str):
            return shown
        name = f"{shown} {template}"
        if template == path and method != "_OTHER":
            self._fixed[(raw, path)] = name
        return name

    def learn(self, scope: Scope, method: str, template: str) -> None:
        """Remember that ``scope`` was routed to ``template`` (called once the router has chosen)."""
        raw, path = scope["method"], scope["path"]
        if method == "_OTHER" or (raw, path) in self._fixed or (raw, template) in self._learned:
            return
        name = f"{method} {template}"
        if template == path:
            self._fixed[(raw, path)] = name
            return
        try:
            pattern = compile_path(template)[0]
        except Exception:
            return
        self._learned.add((raw, template))
        self._patterns.append((raw, pattern, name))


def _matching_route(scope: Scope) -> Any:
    """The route the app's router will hand ``scope`` to, or None (not a Starlette app, or nothing matches)."""
    router = getattr(scope.get("app"), "router", None)
    partial = None
    for route in getattr(router, "routes", ()):
        try:
            match, _ = route.matches(scope)
        except Exception:
            continue
        if match is Match.FULL:
            return route
        if match is Match.PARTIAL and partial is None:
            partial = route
    return partial
