"""The server span's name is the route template before routing: matched ahead, or learned from the router's choice."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from otel.route_names import RouteNames


def _app() -> FastAPI:
    app = FastAPI()
    router = APIRouter()

    @app.post("/direct")
    async def direct() -> int:
        return 1

    @router.post("/predict/batch")
    async def batch() -> int:
        return 1

    @router.get("/items/{item_id}")
    async def item(item_id: int) -> int:
        return item_id

    app.include_router(router)
    return app


def _scope(app: FastAPI, method: str, path: str) -> dict:
    return {"type": "http", "method": method, "path": path, "root_path": "", "app": app, "headers": [], "query_string": b""}


def test_routes_on_the_app_are_matched_ahead_and_unknown_paths_get_the_method() -> None:
    app, names = _app(), RouteNames()
    assert names.span_name(_scope(app, "POST", "/direct"), "POST") == "POST /direct"
    assert names.span_name(_scope(app, "GET", "/nowhere"), "GET") == "GET"
    assert names.span_name(_scope(app, "BREW", "/direct"), "_OTHER") == "HTTP /direct"


def test_included_routes_are_learned_from_the_router_and_known_ahead_afterwards() -> None:
    app, names = _app(), RouteNames()
    batch, item = _scope(app, "POST", "/predict/batch"), _scope(app, "GET", "/items/7")
    assert names.span_name(batch, "POST") == "POST"  # FastAPI's include_router reveals nothing before handling
    names.learn(batch, "POST", "/predict/batch")
    names.learn(item, "GET", "/items/{item_id}")
    assert names.span_name(batch, "POST") == "POST /predict/batch"
    assert names.span_name(_scope(app, "GET", "/items/8"), "GET") == "GET /items/{item_id}"
    assert names.span_name(_scope(app, "POST", "/items/8"), "POST") == "POST"  # another method is another operation


def test_state_stays_bounded_by_routes_whatever_paths_clients_send() -> None:
    app, names = _app(), RouteNames()
    for n in range(500):
        item = _scope(app, "GET", f"/items/{n}")
        names.span_name(item, "GET")
        names.learn(item, "GET", "/items/{item_id}")
        names.span_name(_scope(app, "GET", f"/junk/{n}"), "GET")
    assert len(names._patterns) == 1 and not names._fixed
