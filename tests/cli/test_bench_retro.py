"""`kakuri bench retro` on a tiny window: the same code path as the 100,000-message figures, in seconds."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from kakuri.cli.main import app


def test_bench_retro_reports_every_run_and_skips_what_was_judged(tmp_path):
    out = tmp_path / "retro.json"
    result = CliRunner().invoke(app, ["bench", "retro", "--count", "60", "--distinct", "5", "--workers", "0",
                                      "--home", str(tmp_path / "data"), "--json", str(out)])
    assert result.exit_code == 0, result.output
    runs = json.loads(out.read_text())["runs"]
    assert runs["cold"]["scanned"] == 60
    # 20 zips and 20 link mails share 5 contents each: 5 + 5 scanned, plus the 20 plain ones.
    assert runs["rules_changed_skip"]["scanned"] == 30 and runs["rules_changed_skip"]["skipped"] == 30
    assert runs["same_rules_skip"]["scanned"] == 0
    assert runs["indicator_import"]["scanned"] == 0
    assert runs["rules_changed_no_skip"]["scanned"] == 60
    # A YARA rule alone: the 30 messages not skipped are matched against it only, none is fully scanned.
    assert runs["yara_rule_added_skip"]["scanned"] == runs["yara_rule_added_skip"]["yara_only"] == 30
