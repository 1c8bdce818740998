"""``python -m service.drift``: see ``service.drift.cli``."""

from __future__ import annotations

from service.drift.cli import main

raise SystemExit(main())
