"""Every symbol a detector can emit has a description and a stock score, and every scored symbol exists."""

from kakuri.detect.registry import build_detectors, symbol_catalogue
from kakuri.decide.policy import load_policy


def test_every_symbol_has_description_and_stock_score(settings):
    catalogue = symbol_catalogue(build_detectors(settings))
    policy = load_policy()
    missing_score = sorted(name for name in catalogue if name not in policy.symbols)
    assert not missing_score, f"symbols without a stock score in kakuri/policy/*.toml: {missing_score}"
    undescribed = sorted(name for name, spec in catalogue.items() if len(spec.description) < 10)
    assert not undescribed


def test_every_scored_symbol_is_emitted_by_someone(settings):
    catalogue = symbol_catalogue(build_detectors(settings))
    composites = {c.name for c in load_policy().composites}
    stale = sorted(set(load_policy().symbols) - set(catalogue) - composites)
    assert not stale, f"scores for symbols nobody emits (renamed?): {stale}"


def test_symbol_names_are_upper_snake_with_family_prefix(settings):
    for name, spec in symbol_catalogue(build_detectors(settings)).items():
        assert name == name.upper() and " " not in name, name
        assert "_" in name, f"{name} lacks a family prefix"
        assert spec.group, f"{name} has no group"
