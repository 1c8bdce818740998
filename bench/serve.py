"""``python -m bench.serve FACTORY --port P``: one uvicorn worker on loopback, as ``python -m service`` runs it.

Same options as ``service/__main__.py`` (1 worker, no access log, uvloop, the HTTP edge of
``service.http_edge`` on httptools), only the app factory varies between configurations.
"""

from __future__ import annotations

import argparse

import uvicorn

from service.http_edge import uvicorn_options


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.serve")
    parser.add_argument("factory", help="module:callable returning the ASGI app")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(
        args.factory,
        factory=True,
        host="127.0.0.1",
        port=args.port,
        workers=1,
        access_log=False,
        log_config=None,
        timeout_graceful_shutdown=3,
        **uvicorn_options(),
    )


if __name__ == "__main__":
    main()
