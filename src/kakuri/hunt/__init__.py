"""Find infected machines and abused mail accounts from network and mail logs (`kakuri hunt`).

Logs are parsed once, one parser per format (`formats/`), into a Parquet store by table and UTC day
(`store.py`); each day is reduced once to summaries (`daily.py`, the maillog's in `mail.py`); a run
analyses the selected days' summaries in DuckDB (`engine.py`; `analysis.py`, `beaconing.py`, `mail.py`,
relays in `infrastructure.py`). `findings.py` turns
what comes back into HUNT_* findings, `verdicts.py` scores them with the policy and builds one record
per host and per account, with the contacts to warn. `hunt()` is the one-shot form over a throwaway store.
"""

from kakuri.hunt.config import HuntConfig
from kakuri.hunt.run import HuntReport, hunt

__all__ = ["HuntConfig", "HuntReport", "hunt"]
