from kakuri.decide.expressions import ExpressionError, compile_expression
from kakuri.decide.policy import Composite, Override, PolicyConfig, SymbolPolicy, Thresholds
from kakuri.decide.scoring import score_findings
from kakuri.model import Action, Direction, Finding

import pytest

GROUPS = {"MACRO_AUTOEXEC": "office", "MACRO_PRESENT": "office", "ARCHIVE_ENCRYPTED": "archive", "AUTH_SPF_FAIL": "auth"}


def _policy(**kw) -> PolicyConfig:
    return PolicyConfig(
        symbols={
            "MACRO_AUTOEXEC": SymbolPolicy(score=8),
            "MACRO_PRESENT": SymbolPolicy(score=3),
            "ARCHIVE_ENCRYPTED": SymbolPolicy(score=4),
            "AUTH_SPF_FAIL": SymbolPolicy(score=2),
        },
        **kw,
    )


def _f(symbol: str, weight: float = 1.0) -> Finding:
    return Finding(symbol, "test", weight=weight)


def test_sum_crosses_quarantine_threshold_and_explains_itself():
    verdict = score_findings([_f("MACRO_AUTOEXEC"), _f("MACRO_PRESENT")], _policy(), Direction.INBOUND, GROUPS)
    assert verdict.action is Action.QUARANTINE
    assert verdict.score == 11
    assert "quarantine 10" in verdict.reasons[0]


def test_symbol_counts_once_at_highest_weight():
    verdict = score_findings([_f("MACRO_AUTOEXEC", 0.5), _f("MACRO_AUTOEXEC", 1.0)], _policy(), Direction.INBOUND, GROUPS)
    assert verdict.score == 8
    assert verdict.action is Action.TAG


def test_group_cap_limits_a_family():
    policy = _policy(groups={"office": {"max_score": 9}})
    verdict = score_findings([_f("MACRO_AUTOEXEC"), _f("MACRO_PRESENT")], policy, Direction.INBOUND, GROUPS)
    assert verdict.score == 9
    assert verdict.action is Action.TAG


def test_composite_adds_and_can_remove_parts():
    policy = _policy(
        composites=[Composite(name="ENC_AND_SPF", when="ARCHIVE_ENCRYPTED & g:auth", score=5, policy="remove_weight")]
    )
    verdict = score_findings([_f("ARCHIVE_ENCRYPTED"), _f("AUTH_SPF_FAIL")], policy, Direction.INBOUND, GROUPS)
    assert verdict.score == 5
    assert any("ENC_AND_SPF" in r for r in verdict.reasons)


def test_override_escalates_but_never_downgrades():
    policy = _policy(overrides=[Override(name="lockdown", when="g:archive", action=Action.QUARANTINE)])
    verdict = score_findings([_f("ARCHIVE_ENCRYPTED")], policy, Direction.INBOUND, GROUPS)
    assert verdict.action is Action.QUARANTINE
    soft = [Override(name="x", when="MACRO_AUTOEXEC", action=Action.TAG)]
    verdict = score_findings([_f("MACRO_AUTOEXEC"), _f("MACRO_PRESENT")], _policy(), Direction.INBOUND, GROUPS, soft)
    assert verdict.action is Action.QUARANTINE


def test_override_limited_to_direction():
    overrides = [Override(name="hold", when="!NOTHING", action=Action.HOLD, directions=[Direction.OUTBOUND])]
    assert score_findings([], _policy(), Direction.INBOUND, GROUPS, overrides).action is Action.DELIVER
    assert score_findings([], _policy(), Direction.OUTBOUND, GROUPS, overrides).action is Action.HOLD


def test_thresholds_per_direction():
    policy = _policy(thresholds={d: Thresholds(tag=None, quarantine=3.0) for d in Direction})
    assert score_findings([_f("MACRO_PRESENT")], policy, Direction.OUTBOUND, GROUPS).action is Action.QUARANTINE


@pytest.mark.parametrize("bad", ["A &", "(A", "A B", "a & b", "A && B"])
def test_bad_expressions_are_refused(bad):
    with pytest.raises(ExpressionError):
        compile_expression(bad)


def test_expression_semantics():
    pred = compile_expression("A & (B | g:office) & !C")
    assert pred({"A", "B"}, set())
    assert pred({"A"}, {"office"})
    assert not pred({"A", "B", "C"}, set())
    assert not pred({"B"}, {"office"})


def test_override_for_one_sender_or_host_only():
    hold = [Override(name="emergency.hold_sender", when="*", action=Action.HOLD, senders=["taro@tokai-keiki.example"])]
    assert score_findings([], _policy(), Direction.OUTBOUND, GROUPS, hold, sender="taro@tokai-keiki.example").action is Action.HOLD
    assert score_findings([], _policy(), Direction.OUTBOUND, GROUPS, hold, from_addr="taro@tokai-keiki.example").action is Action.HOLD
    assert score_findings([], _policy(), Direction.OUTBOUND, GROUPS, hold, sender="jiro@tokai-keiki.example").action is Action.DELIVER
    by_ip = [Override(name="emergency.hold_host", when="*", action=Action.HOLD, client_ips=["10.1.2.3"])]
    assert score_findings([], _policy(), Direction.OUTBOUND, GROUPS, by_ip, client_ip="10.1.2.3").action is Action.HOLD
    assert score_findings([], _policy(), Direction.OUTBOUND, GROUPS, by_ip, client_ip="10.1.2.4").action is Action.DELIVER
