"""Score hunt output against a netlogs `labels.json` (the scorer the data set's README describes).

Hosts: precision/recall of "infected" over labelled infected hosts (matched by IP or host name).
Accounts: recall over compromised accounts; precision with at-risk accounts neutral (neither right
nor wrong). Notify: recall of the labels' union of warning lists by the union of ours.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Evaluation:
    host_precision: float
    host_recall: float
    account_precision: float
    account_recall: float
    notify_recall: float
    false_hosts: tuple[str, ...]
    missed_hosts: tuple[str, ...]
    false_accounts: tuple[str, ...]
    missed_accounts: tuple[str, ...]
    trap_hosts_flagged: tuple[str, ...]
    notify_missing: int

    def summary(self) -> str:
        return (
            f"score: host_precision={self.host_precision:.3f} host_recall={self.host_recall:.3f} "
            f"account_precision={self.account_precision:.3f} account_recall={self.account_recall:.3f} "
            f"notify_recall={self.notify_recall:.3f}"
        )


def evaluate(records: list[dict], labels: dict) -> Evaluation:
    infected = labels.get("infected_hosts", [])
    aliases = {}
    for item in infected:
        for key in (item.get("ip"), item.get("hostname")):
            if key:
                aliases[key.lower()] = item["ip"]
    flagged_hosts = {str(r["host"]).lower() for r in records if "host" in r and r["verdict"] == "infected"}
    found = {aliases[h] for h in flagged_hosts if h in aliases}
    false_hosts = sorted(h for h in flagged_hosts if h not in aliases)
    truth_hosts = {item["ip"] for item in infected}

    compromised = {a["account"].lower() for a in labels.get("compromised_accounts", [])}
    at_risk = {a["account"].lower() for a in labels.get("at_risk_accounts", [])}
    flagged_accounts = {str(r["account"]).lower() for r in records if "account" in r and r["verdict"] == "infected"}
    judged = flagged_accounts - at_risk

    notify_truth = {a.lower() for a in labels.get("notify_all", [])}
    notify_ours = {a.lower() for r in records for a in r.get("notify", [])}
    traps = {h for trap in labels.get("clean_traps", []) for h in trap.get("hosts", [])}
    return Evaluation(
        host_precision=_ratio(len(found), len(found) + len(false_hosts)),
        host_recall=_ratio(len(found), len(truth_hosts)),
        account_precision=_ratio(len(judged & compromised), len(judged)),
        account_recall=_ratio(len(flagged_accounts & compromised), len(compromised)),
        notify_recall=_ratio(len(notify_ours & notify_truth), len(notify_truth)),
        false_hosts=tuple(false_hosts),
        missed_hosts=tuple(sorted(truth_hosts - found)),
        false_accounts=tuple(sorted(judged - compromised)),
        missed_accounts=tuple(sorted(compromised - flagged_accounts)),
        trap_hosts_flagged=tuple(sorted(traps & flagged_hosts)),
        notify_missing=len(notify_truth - notify_ours),
    )


def _ratio(part: int, whole: int) -> float:
    return part / whole if whole else 1.0
