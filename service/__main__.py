"""``python -m service [--host H] [--port P] [--workers N]``: serve the bundled model.

The model is checked before uvicorn starts, so a missing or corrupt file ends the process with
one line naming the path instead of a traceback from every worker.
"""

from __future__ import annotations

import argparse
import sys

import uvicorn

from service.config import Settings, SettingsError
from service.errors import ModelLoadError
from service.http_edge import uvicorn_options
from service.pipeline.model import OnnxModel


def main(argv: list[str] | None = None) -> int:
    try:
        defaults = Settings.from_env()
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    parser = argparse.ArgumentParser(prog="python -m service", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default=defaults.host)
    parser.add_argument("--port", type=int, default=defaults.port)
    parser.add_argument("--workers", type=int, default=defaults.workers)
    args = parser.parse_args(argv)
    try:
        OnnxModel.load(defaults.model_path)
    except ModelLoadError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    uvicorn.run(
        "service.app:app_factory",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        access_log=False,
        log_config=None,
        timeout_graceful_shutdown=3,
        **uvicorn_options(),  # bounded request heads, head timeout, connection bound (each worker reads its env)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
