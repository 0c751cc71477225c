from kakuri.unpack.limits import UnpackLimits
from tests.builders_archive import PE_STUB, encrypted_zip, overlapping_zip_bomb, raw_zip, zip_of
from tests.builders_office import doc_with_vba

MACRO_DOC = doc_with_vba({"ThisDocument": 'Sub AutoOpen()\nShell "cmd"\nEnd Sub'})
JA_BODY = "お世話になっております。\n請求書をお送りします。\n\n解凍パスワード：Kt83ma\n\nよろしくお願いいたします。\n"


def test_stored_and_deflated_members_are_extracted_with_their_type(unpack):
    result = unpack({"a.zip": zip_of({"見積書.exe": PE_STUB}, stored=True), "b.zip": zip_of({"x/report.doc": MACRO_DOC})})
    assert result.part("a.zip/見積書.exe").true_type == "pe"
    member = result.part("b.zip/x/report.doc")
    assert member.true_type == "doc" and member.data == MACRO_DOC
    assert member.depth == 1 and member.container == "zip" and member.filename == "report.doc"
    assert result.findings == []


def test_zipcrypto_zip_opens_with_the_password_from_a_japanese_body(unpack):
    result = unpack({"請求書.zip": encrypted_zip({"請求書.doc": MACRO_DOC}, "Kt83ma")}, body=JA_BODY,
                    charset="iso-2022-jp")
    archive = result.part("請求書.zip")
    assert archive.password == "Kt83ma"
    assert result.part("請求書.zip/請求書.doc").data == MACRO_DOC
    finding = result.finding("ARCHIVE_ENCRYPTED_PASSWORD_IN_MESSAGE")
    assert finding.evidence["password_source"] == "this message" and finding.part == "請求書.zip"


def test_aes_zip_opens_with_the_password_from_a_shift_jis_body(unpack):
    result = unpack({"data.zip": encrypted_zip({"run.exe": PE_STUB}, "Kt83ma", aes=True)}, body=JA_BODY,
                    charset="shift_jis")
    assert result.part("data.zip/run.exe").true_type == "pe"
    assert "ARCHIVE_ENCRYPTED_PASSWORD_IN_MESSAGE" in result.symbols


def test_wrong_password_leaves_the_zip_unopened_but_names_visible(unpack):
    result = unpack({"data.zip": encrypted_zip({"invoice.exe": PE_STUB}, "right-one")},
                    body="パスワード：wrong-one\n")
    assert result.symbols == {"ARCHIVE_ENCRYPTED_UNOPENED"}
    member = result.part("data.zip/invoice.exe")
    assert member.encrypted and member.data == b"" and member.true_type == "encrypted"
    assert result.part("data.zip").encrypted and result.part("data.zip").password is None


def test_no_password_in_body_ppap_style_stays_unopened(unpack):
    body = "添付ファイルはパスワード付きZIP形式です。\nパスワードは別メールにてお送りいたします。\n"
    result = unpack({"請求書.zip": encrypted_zip({"請求書.pdf": b"%PDF-1.4"}, "ci6%zd%3yPR", aes=True)}, body=body)
    assert result.symbols == {"ARCHIVE_ENCRYPTED_UNOPENED"}
    assert result.finding("ARCHIVE_ENCRYPTED_UNOPENED").evidence["members"] == "1"
    assert result.part("請求書.zip/請求書.pdf").encrypted


def test_cp932_member_names_are_decoded(unpack):
    data = raw_zip([("請求書.exe".encode("cp932"), PE_STUB)])  # what Japanese Windows' zip writes
    assert "x.zip/請求書.exe" in unpack({"x.zip": data}).paths


def test_overlapping_entries_bomb_is_caught_before_inflating(unpack):
    result = unpack({"bomb.zip": overlapping_zip_bomb(entries=2000, kernel_bytes=5_000_000)})
    assert result.finding("ARCHIVE_BOMB").evidence["reason"] == "overlapping entries"
    assert result.part("bomb.zip").children == []


def test_member_of_zeros_with_huge_ratio_is_a_bomb(unpack):
    limits = UnpackLimits(max_member_bytes=4 * 1024 * 1024)
    result = unpack({"z.zip": zip_of({"z.bin": b"\0" * 6 * 1024 * 1024})}, limits=limits)
    assert result.finding("ARCHIVE_BOMB").evidence["reason"] == "ratio"
    assert result.part("z.zip").children == []


def test_padded_document_keeps_its_head_for_the_detectors(unpack):
    limits = UnpackLimits(max_member_bytes=2 * 1024 * 1024, padded_head_bytes=256 * 1024)
    padded = MACRO_DOC + b"\0" * 8 * 1024 * 1024  # Emotet 2022: hundreds of MB of zeros after the OLE file
    result = unpack({"inv.zip": zip_of({"inv.doc": padded})}, limits=limits)
    assert result.finding("ARCHIVE_PADDED_MEMBER").evidence["member"] == "inv.doc"
    head = result.part("inv.zip/inv.doc")
    assert head.true_type == "doc" and head.data.startswith(MACRO_DOC) and head.size == 256 * 1024
    assert "ARCHIVE_BOMB" not in result.symbols


def test_large_member_with_normal_ratio_is_a_limit_not_a_bomb(unpack):
    import os

    limits = UnpackLimits(max_member_bytes=1024 * 1024)
    result = unpack({"v.zip": zip_of({"video.bin": os.urandom(2 * 1024 * 1024)})}, limits=limits)
    assert result.symbols == {"ARCHIVE_LIMIT_EXCEEDED"}
    assert result.finding("ARCHIVE_LIMIT_EXCEEDED").evidence["limit"] == "max_member_bytes"


def test_truncated_zip_is_corrupt_without_raising(unpack):
    data = zip_of({"a.doc": MACRO_DOC, "b.exe": PE_STUB})
    for cut in (len(data) // 3, len(data) - 30, len(data) - 5):
        result = unpack({"t.zip": data[:cut]})
        assert "ARCHIVE_CORRUPT" in result.symbols, cut


def test_crc_damaged_member_is_corrupt_and_the_others_survive(unpack):
    data = bytearray(zip_of({"a.txt": b"A" * 1000, "b.exe": PE_STUB}, stored=True))
    data[40:44] = b"ZZZZ"  # inside a.txt's stored bytes: its CRC no longer matches
    result = unpack({"d.zip": bytes(data)})
    assert "ARCHIVE_CORRUPT" in result.symbols
    assert result.part("d.zip/b.exe").true_type == "pe"


def test_zip_declaring_more_entries_than_the_limit_is_refused_before_parsing(unpack):
    result = unpack({"many.zip": zip_of({f"{i}.txt": b"x" for i in range(50)})}, limits=UnpackLimits(max_members=20))
    finding = result.finding("ARCHIVE_LIMIT_EXCEEDED")
    assert finding.evidence["limit"] == "max_members" and finding.evidence["declared_entries"] == "50"


def test_overlapping_bomb_with_more_entries_than_the_limit_is_still_a_bomb(unpack):
    result = unpack({"bomb.zip": overlapping_zip_bomb(entries=5000, kernel_bytes=1000)},
                    limits=UnpackLimits(max_members=100))
    assert result.symbols == {"ARCHIVE_BOMB"}


def test_zip_behind_prepended_junk_is_extracted(unpack):
    result = unpack({"x.zip": b"\x00junk-before-the-archive" * 40 + zip_of({"run.exe": PE_STUB})})
    assert result.part("x.zip/run.exe").true_type == "pe"
    assert result.findings == []
