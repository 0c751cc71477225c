"""unpack_part: files a detector carves out of another part are opened like attachments."""

import io

import pyzipper

from kakuri.model import ParsedMessage, Part
from kakuri.unpack.limits import UnpackLimits
from kakuri.unpack.walker import unpack_part


def encrypted_zip(name: str, data: bytes, password: str) -> bytes:
    out = io.BytesIO()
    with pyzipper.AESZipFile(out, "w", encryption=pyzipper.WZ_AES) as archive:
        archive.setpassword(password.encode())
        archive.writestr(name, data)
    return out.getvalue()


def test_carved_encrypted_zip_is_opened_with_the_mails_password_and_reported():
    message = ParsedMessage(raw=b"", headers=[], text="The password is: Qx81")
    carved = Part(path="page.html/invoice.zip", data=encrypted_zip("invoice.js", b"WScript.Echo(1)", "Qx81"),
                  filename="invoice.zip", is_attachment=True, depth=1, container="html-smuggled")
    findings = unpack_part(carved, message, UnpackLimits(), lambda: ["nope", "Qx81"])
    assert carved.true_type == "zip"
    assert [c.path for c in carved.children] == ["page.html/invoice.zip/invoice.js"]
    assert {f.symbol for f in findings} == {"ARCHIVE_ENCRYPTED_PASSWORD_IN_MESSAGE"}


def test_carved_file_that_is_no_container_is_only_sniffed():
    message = ParsedMessage(raw=b"", headers=[])
    carved = Part(path="page.html/a.exe", data=b"MZ" + b"\0" * 200, filename="a.exe", depth=1)
    assert unpack_part(carved, message, UnpackLimits(), lambda: []) == []
    assert carved.true_type == "dos" and carved.children == []  # an MZ header without a PE header
