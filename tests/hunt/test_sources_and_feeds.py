"""Inputs: formats recognised by content (gzip, rotations, renamed files) and the three feed layouts."""

from __future__ import annotations

import gzip
from pathlib import Path

from kakuri.hunt.feeds import Feeds, add_feed_text
from kakuri.hunt.sources import expand, read_lines
from tests.hunt.conftest import FEODO_HEADER, URLHAUS_HEADER
from tests.hunt.logbuilders import T0, conn, squid, zeek_file


def test_folder_is_expanded_by_content_with_rotations_oldest_first(tmp_path: Path):
    (tmp_path / "renamed.txt").write_text(squid(T0, "10.0.0.1", "GET", "http://a.example/"), encoding="utf-8")
    with gzip.open(tmp_path / "proxy.log.2.gz", "wt") as out:
        out.write(squid(T0 - 100, "10.0.0.1", "GET", "http://old.example/"))
    (tmp_path / "proxy.log.1").write_text(squid(T0 - 50, "10.0.0.1", "GET", "http://mid.example/"), encoding="utf-8")
    (tmp_path / "proxy.log").write_text(squid(T0, "10.0.0.1", "GET", "http://new.example/"), encoding="utf-8")
    zeek_file(tmp_path / "edge", "conn", [conn(T0, "10.0.0.1", "192.0.2.1", 80)])
    (tmp_path / "notes.md").write_text("# hello\nnothing here\n", encoding="utf-8")
    files, unknown = expand([tmp_path])
    kinds = {f.path.name: f.kind for f in files}
    assert kinds == {"renamed.txt": "squid", "proxy.log.2.gz": "squid", "proxy.log.1": "squid", "proxy.log": "squid",
                     "edge": "zeek"}
    rotation = [f.path.name for f in files if f.path.name.startswith("proxy")]
    assert rotation == ["proxy.log.2.gz", "proxy.log.1", "proxy.log"]
    assert [p.name for p in unknown] == ["notes.md"]
    assert "old.example" in next(read_lines(tmp_path / "proxy.log.2.gz"))


def test_feed_layouts_are_sniffed_from_their_headers():
    feeds = Feeds()
    add_feed_text(feeds, "# comment\n" + FEODO_HEADER + '"2020-01-01 00:00:00","192.0.2.5","8080","online","2020-02-01","Emotet"\n')
    add_feed_text(feeds, URLHAUS_HEADER + '"1","2020-01-01","http://Bad.example:80/x/a.exe","online","","malware_download","exe","",""\n')
    add_feed_text(feeds, "# sha256 list\n" + "A" * 64 + "\nnot-a-hash\n")
    assert feeds.c2_at("192.0.2.5", 8080).malware == "Emotet"
    assert feeds.c2_at("192.0.2.5", 443) is None
    assert feeds.url_listed("http://bad.example/x/a.exe")
    assert "bad.example" in feeds.url_hosts
    assert feeds.sha256 == {"a" * 64}


def test_gzip_files_report_their_text_size_for_progress(tmp_path: Path):
    text = squid(T0, "10.0.0.1", "GET", "http://a.example/") * 500
    with gzip.open(tmp_path / "access.log.1.gz", "wt") as out:
        out.write(text)
    (log,) = expand([tmp_path])[0]
    assert log.size == len(text.encode())
