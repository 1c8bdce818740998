"""promtool 3 for the chart's scrape config: the same fixture as tests/config."""

from tests.config.conftest import promtool3

__all__ = ["promtool3"]
