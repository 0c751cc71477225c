from __future__ import annotations

from kakuri.hunt.evaluation import evaluate

LABELS = {
    "infected_hosts": [{"ip": "10.0.0.1", "hostname": "pc1.corp.example"}, {"ip": "10.0.0.2", "hostname": None}],
    "compromised_accounts": [{"account": "a@corp.example"}],
    "at_risk_accounts": [{"account": "b@corp.example"}],
    "notify_all": ["x@p.example", "y@p.example"],
    "clean_traps": [{"hosts": ["10.0.0.9"]}],
}


def test_scores_hosts_by_ip_or_name_with_at_risk_accounts_neutral():
    records = [
        {"host": "pc1.corp.example", "verdict": "infected", "notify": ["x@p.example"]},
        {"host": "10.0.0.9", "verdict": "infected", "notify": []},
        {"account": "a@corp.example", "verdict": "infected", "notify": []},
        {"account": "b@corp.example", "verdict": "infected", "notify": []},
    ]
    result = evaluate(records, LABELS)
    assert (result.host_precision, result.host_recall) == (0.5, 0.5)
    assert (result.account_precision, result.account_recall) == (1.0, 1.0)
    assert result.notify_recall == 0.5
    assert result.trap_hosts_flagged == ("10.0.0.9",)
    assert result.summary().startswith("score: host_precision=0.500")
