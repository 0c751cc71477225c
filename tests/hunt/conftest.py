from __future__ import annotations

from pathlib import Path

import pytest

from kakuri.decide.policy import load_policy
from kakuri.hunt import HuntConfig, hunt
from kakuri.hunt.feeds import Feeds, add_feed_text
from kakuri.hunt.sources import expand
from tests.hunt.logbuilders import Maillog, zeek_file

FEODO_HEADER = '"first_seen_utc","dst_ip","dst_port","c2_status","last_online","malware"\n'
URLHAUS_HEADER = "# id,dateadded,url,url_status,last_online,threat,tags,urlhaus_link,reporter\n"


@pytest.fixture
def run_hunt(tmp_path: Path):
    """Write the given log lines to files, hunt them, return {host or account: record as JSON}."""

    def run(*, proxy=(), conn=(), dns=(), mail: Maillog | None = None, feodo=(), urlhaus=(), cfg=None, **options):
        logs = tmp_path / "logs"
        logs.mkdir(exist_ok=True)
        if proxy:
            (logs / "access.log").write_text("".join(sorted(proxy)), encoding="utf-8")
        if conn:
            zeek_file(logs / "conn.log", "conn", list(conn))
        if dns:
            zeek_file(logs / "dns.log", "dns", list(dns))
        if mail:
            mail.write(logs / "maillog")
        feeds = Feeds()
        if feodo:
            add_feed_text(feeds, FEODO_HEADER + "".join(feodo))
        if urlhaus:
            add_feed_text(feeds, URLHAUS_HEADER + "".join(urlhaus))
        files, _ = expand([logs])
        report = hunt(files, feeds, load_policy(), cfg or HuntConfig(**options))
        return {r.key: r.as_json() for r in report.records}

    return run


def symbols(record: dict) -> set[str]:
    return {e["symbol"] for e in record["evidence"]}
