from tests.builders_archive import PE_STUB, seven_zip

BODY = "Hello,\nthe archive password is: Sz7-Kq2\n"


def test_plain_7z_members_are_extracted(unpack):
    result = unpack({"a.7z": seven_zip({"docs/readme.txt": b"hello", "setup.exe": PE_STUB})})
    assert result.part("a.7z/setup.exe").true_type == "pe"
    assert result.part("a.7z/docs/readme.txt").data == b"hello"
    assert result.findings == []


def test_encrypted_7z_opens_with_the_body_password(unpack):
    result = unpack({"a.7z": seven_zip({"setup.exe": PE_STUB}, password="Sz7-Kq2")}, body=BODY)
    assert result.part("a.7z").password == "Sz7-Kq2"
    assert result.part("a.7z/setup.exe").data == PE_STUB
    assert "ARCHIVE_ENCRYPTED_PASSWORD_IN_MESSAGE" in result.symbols


def test_header_encrypted_7z_opens_with_the_body_password(unpack):
    data = seven_zip({"setup.exe": PE_STUB}, password="Sz7-Kq2", encrypt_headers=True)
    result = unpack({"a.7z": data}, body=BODY)
    assert result.part("a.7z/setup.exe").true_type == "pe"


def test_header_encrypted_7z_without_password_is_reported_with_hidden_names(unpack):
    data = seven_zip({"setup.exe": PE_STUB}, password="Sz7-Kq2", encrypt_headers=True)
    result = unpack({"a.7z": data}, body="password: wrong1")
    finding = result.finding("ARCHIVE_ENCRYPTED_UNOPENED")
    assert finding.evidence["headers_encrypted"] == "yes"
    assert result.part("a.7z").children == []


def test_content_encrypted_7z_without_password_shows_member_names(unpack):
    result = unpack({"a.7z": seven_zip({"setup.exe": PE_STUB}, password="Sz7-Kq2")})
    assert result.part("a.7z/setup.exe").encrypted
    assert result.finding("ARCHIVE_ENCRYPTED_UNOPENED").evidence["headers_encrypted"] == "no"


def test_truncated_7z_is_corrupt(unpack):
    data = seven_zip({"setup.exe": PE_STUB * 50})
    for cut in (10, len(data) // 2, len(data) - 8):
        assert "ARCHIVE_CORRUPT" in unpack({"t.7z": data[:cut]}).symbols, cut


def test_7z_stops_decompressing_at_the_message_byte_budget(unpack):
    from kakuri.unpack.limits import UnpackLimits

    data = seven_zip({f"{i}.bin": bytes([i]) * 300_000 for i in range(40)})  # 12 MB declared
    result = unpack({"x.7z": data}, limits=UnpackLimits(max_total_bytes=2_000_000))
    assert result.finding("ARCHIVE_LIMIT_EXCEEDED").evidence["limit"] == "max_total_bytes"
    assert sum(child.size for child in result.part("x.7z").children) <= 2_000_000
