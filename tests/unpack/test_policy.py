"""The stock archive scores give the intended actions on their own (thresholds: tag 5, quarantine 10)."""

import pytest

from kakuri.decide.scoring import score_findings
from kakuri.model import Action, Direction, Finding
from kakuri.unpack.walker import SYMBOLS

GROUPS = {spec.name: spec.group for spec in SYMBOLS}


def _action(settings, *symbols: str) -> Action:
    findings = [Finding(symbol, "unpack", "a.zip") for symbol in symbols]
    return score_findings(findings, settings.policy, Direction.INBOUND, GROUPS).action


@pytest.mark.parametrize("symbol", ["ARCHIVE_ENCRYPTED_PASSWORD_IN_MESSAGE", "ARCHIVE_BOMB", "ARCHIVE_PADDED_MEMBER"])
def test_emotet_archive_techniques_quarantine_by_themselves(settings, symbol):
    assert _action(settings, symbol) == Action.QUARANTINE


@pytest.mark.parametrize("symbol", ["ARCHIVE_ENCRYPTED_UNOPENED", "ARCHIVE_ENCRYPTED", "ARCHIVE_NESTED",
                                    "ARCHIVE_CORRUPT", "ARCHIVE_DISK_IMAGE"])
def test_ppap_and_ordinary_archive_facts_are_delivered(settings, symbol):
    assert _action(settings, symbol) == Action.DELIVER


def test_unopened_archive_from_an_impostor_fires_the_composite(settings):
    findings = [Finding("ARCHIVE_ENCRYPTED_UNOPENED", "unpack", "a.zip"), Finding("IMPERSONATION_PARTNER_NAME", "x")]
    verdict = score_findings(findings, settings.policy, Direction.INBOUND, GROUPS)
    assert "ARCHIVE_ENCRYPTED_FROM_IMPOSTOR" in verdict.symbol_scores


def test_every_archive_symbol_has_a_stock_score(settings):
    assert all(spec.name in settings.policy.symbols for spec in SYMBOLS)
