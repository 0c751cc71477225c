"""Find infected machines and abused mail accounts from network and mail logs (`kakuri hunt`).

Logs stream through one parser per format (`formats/`) into bounded per-host aggregates
(`network.py`, `mail.py`); `findings.py` turns aggregates into HUNT_* findings, `verdicts.py` scores them
with the policy and builds one record per host and per account, with the contacts to warn.
"""

from kakuri.hunt.config import HuntConfig
from kakuri.hunt.run import HuntReport, hunt

__all__ = ["HuntConfig", "HuntReport", "hunt"]
