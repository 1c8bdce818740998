"""``python -m service.traces``: see ``service.traces.cli``."""

from __future__ import annotations

from service.traces.cli import main

raise SystemExit(main())
