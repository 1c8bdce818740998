"""``python -m service [--host H] [--port P] [--workers N]``: serve the bundled model.

The flags are the ``HOST``, ``PORT`` and ``WORKERS`` settings and are checked by the same rules; the
sampler (``OTEL_TRACES_SAMPLER[_ARG]``) and the model are checked before uvicorn starts, so a bad
value or a missing or corrupt file ends the process with one line naming it instead of a traceback
from every worker.
"""

from __future__ import annotations

import argparse
import os
import sys

import uvicorn

from otel.sampling import SamplerError, sampler_from_env
from service.config import Settings, SettingsError
from service.errors import ModelLoadError
from service.http_edge import uvicorn_options
from service.pipeline.model import OnnxModel

FLAGS = {"--host": "HOST", "--port": "PORT", "--workers": "WORKERS"}
SDK_INTERNAL_METRICS = "OTEL_PYTHON_SDK_INTERNAL_METRICS_ENABLED"
"""On unless set: the SDK's own otel.sdk.processor.* / otel.sdk.exporter.* counters make telemetry loss visible.
The SDK reads it from the environment only, so the server process sets its default before any worker starts."""
"""Each command-line flag and the setting (environment variable) it stands for."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m service", description=__doc__.splitlines()[0].replace("``", ""))
    for flag, variable in FLAGS.items():
        parser.add_argument(flag, metavar=variable, help=f"overrides {variable}")
    return parser


def settings_from_args(argv: list[str] | None, env: dict[str, str] | None = None) -> Settings:
    """The settings of ``env`` (default ``os.environ``) with the flags in ``argv`` put in place of their variables.

    A flag is parsed and checked exactly like its variable; the ``SettingsError`` names both.
    """
    args = vars(_parser().parse_args(argv))
    env = dict(os.environ if env is None else env)
    given = {variable: args[flag.lstrip("-")] for flag, variable in FLAGS.items() if args[flag.lstrip("-")] is not None}
    try:
        return Settings.from_env({**env, **given})
    except SettingsError as exc:
        flags = [flag for flag, variable in FLAGS.items() if variable in given and str(exc).startswith(variable)]
        raise SettingsError(f"{flags[0]}: {exc}" if flags else str(exc)) from None


def main(argv: list[str] | None = None) -> int:
    try:
        settings = settings_from_args(argv)
        sampler_from_env()
    except (SettingsError, SamplerError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        OnnxModel.load(settings.model_path)
    except ModelLoadError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    os.environ.setdefault(SDK_INTERNAL_METRICS, "true")
    uvicorn.run(
        "service.app:app_factory",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        access_log=False,
        log_config=None,
        timeout_graceful_shutdown=3,
        **uvicorn_options(),  # bounded request heads, head timeout, connection bound (each worker reads its env)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
