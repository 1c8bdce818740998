"""One GET/POST helper for the HTTP sources: a JSON body back, or one ``TracesError`` line saying what failed."""

from __future__ import annotations

from typing import Any

import httpx

from service.traces.model import SourceUnavailable


def request_json(client: httpx.Client, method: str, url: str, **kwargs: Any) -> tuple[int, Any]:
    """``(status, decoded JSON or None)``; unreachable hosts, timeouts and non-JSON 2xx bodies raise ``SourceUnavailable``."""
    try:
        response = client.request(method, url, **kwargs)
    except httpx.HTTPError as exc:
        raise SourceUnavailable(f"{url}: {type(exc).__name__}: {exc or 'no answer'}") from None
    if response.status_code >= 400:
        return response.status_code, None
    try:
        return response.status_code, response.json()
    except ValueError:
        raise SourceUnavailable(f"{url}: HTTP {response.status_code} but not JSON (is this the right URL?)") from None
