"""What the target service injects (``FAULT_*``), read from the resource on its ``/metrics`` (``target_info``).

The service puts ``ml.fault_injection`` and, when on, each ``FAULT_*`` setting (``ml.fault.slow_feature_ms``)
on its resource, so a scenario's hint can say what the service actually runs with instead of guessing.
"""

from __future__ import annotations

import urllib.error
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from service.config import Settings

FAULT_VARIABLES = tuple(Settings().fault_settings())


def _label(variable: str) -> str:
    """``FAULT_SLOW_FEATURE_MS`` -> ``ml_fault_slow_feature_ms`` (``ml.fault.slow_feature_ms`` on /metrics)."""
    return "ml_fault_" + variable.lower().removeprefix("fault_")


def faults_from_exposition(text: str) -> dict[str, float] | None:
    """``FAULT_*`` -> value from an exposition's ``target_info``; ``None`` without one."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "target_info":
                labels = sample.labels
                if labels.get("ml_fault_injection") != "true":
                    return dict.fromkeys(FAULT_VARIABLES, 0.0)
                return {variable: float(labels.get(_label(variable), 0.0)) for variable in FAULT_VARIABLES}
    return None


def read_faults(base_url: str, timeout_s: float = 3.0) -> dict[str, float] | None:
    """The ``FAULT_*`` settings of the service at ``base_url``; ``None`` when its ``/metrics`` cannot tell."""
    try:
        with urllib.request.urlopen(f"{base_url.rstrip('/')}/metrics", timeout=timeout_s) as response:
            return faults_from_exposition(response.read().decode())
    except (urllib.error.URLError, OSError, ValueError):
        return None
