"""Findings + policy -> Verdict. A pure function: no I/O, no clock, no globals."""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Iterable, Mapping

from kakuri.decide.expressions import compile_expression
from kakuri.decide.policy import Override, PolicyConfig
from kakuri.model import Action, Direction, Finding, Verdict


def score_findings(
    findings: Iterable[Finding],
    policy: PolicyConfig,
    direction: Direction,
    symbol_groups: Mapping[str, str],
    extra_overrides: Iterable[Override] = (),
    *,
    sender: str = "",
    from_addr: str = "",
    client_ip: str | None = None,
) -> Verdict:
    findings = tuple(findings)
    # A symbol counts once, at the highest weight any finding gave it: three macro documents in one
    # mail are not three times as malicious as one.
    weights: dict[str, float] = {}
    for finding in findings:
        weights[finding.symbol] = max(weights.get(finding.symbol, 0.0), finding.weight)

    symbols = set(weights)
    groups = {symbol_groups.get(s, "") for s in symbols} - {""}
    symbol_scores = {s: policy.score_of(s) * w for s, w in weights.items()}
    reasons: list[str] = []

    for composite in policy.composites:
        if compile_expression(composite.when)(symbols, groups):
            symbol_scores[composite.name] = composite.score
            reasons.append(f"composite {composite.name} ({composite.when}): {composite.score:+g}")
            if composite.policy == "remove_weight":
                for part in _parts_of(composite.when, symbols, symbol_groups):
                    symbol_scores[part] = 0.0

    total = _apply_group_caps(symbol_scores, policy, symbol_groups)
    action = _action_for_score(total, policy, direction, reasons)

    for override in (*policy.overrides, *extra_overrides):
        if not override.applies_to(direction, sender, from_addr, client_ip):
            continue
        if compile_expression(override.when)(symbols, groups):
            reasons.append(f"override {override.name}: {override.action.value}")
            if override.action.severity > action.severity:
                action = override.action

    return Verdict(action=action, score=total, findings=findings, reasons=tuple(reasons), symbol_scores=symbol_scores)


def _apply_group_caps(symbol_scores: dict[str, float], policy: PolicyConfig, symbol_groups: Mapping[str, str]) -> float:
    by_group: dict[str, float] = defaultdict(float)
    total = 0.0
    for symbol, score in symbol_scores.items():
        group = symbol_groups.get(symbol, "")
        if group:
            by_group[group] += score
        else:
            total += score
    for group, subtotal in by_group.items():
        cap = policy.groups.get(group)
        if cap and cap.max_score is not None:
            subtotal = min(subtotal, cap.max_score)
        total += subtotal
    return total


def _action_for_score(total: float, policy: PolicyConfig, direction: Direction, reasons: list[str]) -> Action:
    thresholds = policy.thresholds.get(direction) or policy.thresholds.get(Direction.INBOUND)
    for action, limit in (
        (Action.REJECT, thresholds.reject),
        (Action.QUARANTINE, thresholds.quarantine),
        (Action.TAG, thresholds.tag),
    ):
        if limit is not None and total >= limit:
            reasons.insert(0, f"score {total:.1f} >= {action.value} {limit:g} ({direction.value})")
            return action
    reasons.insert(0, f"score {total:.1f} below every threshold ({direction.value})")
    return Action.DELIVER


def _parts_of(expression: str, symbols: set[str], symbol_groups: Mapping[str, str]) -> set[str]:
    """The fired symbols an expression names, directly or through a `g:group` atom."""
    named = set(re.findall(r"(?<![:\w])[A-Z][A-Z0-9_]+", expression))
    groups = set(re.findall(r"g:([A-Za-z0-9_]+)", expression))
    return {s for s in symbols if s in named or symbol_groups.get(s) in groups}
