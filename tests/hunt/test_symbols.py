from __future__ import annotations

from kakuri.decide.policy import load_policy
from kakuri.hunt.symbols import SYMBOLS


def test_every_hunt_symbol_has_a_description_and_a_stock_score():
    policy = load_policy()
    for spec in SYMBOLS:
        assert spec.name.startswith("HUNT_") and spec.description
        assert spec.name in policy.symbols, spec.name
