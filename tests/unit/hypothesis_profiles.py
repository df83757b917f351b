"""Hypothesis profiles for the property tests (`tests/unit/test_*_properties.py`).

`ci` (the default) is deterministic (`derandomize=True`: the same examples on every run, so CI never fails by
chance) and bounded (`max_examples`); `HYPOTHESIS_PROFILE=thorough` explores far more, randomly, for a local hunt.
Each test's own time limit is asserted inside it, so Hypothesis's per-example deadline is off (a slow shared CI
machine must not fail a correct parser). `database=None`: nothing is written to `.hypothesis/`.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    max_examples=150,
    derandomize=True,
    deadline=None,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "thorough",
    max_examples=3000,
    deadline=None,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
