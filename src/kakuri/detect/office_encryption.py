"""Password-protected Office documents: open what can be opened, report what cannot.

Threat: maldocs encrypted so that a gateway cannot see their macros. Two tricks: Excel's built-in
default password "VelvetSweatshop" (Excel opens such a workbook without asking, so the user sees no
prompt), and a password written in the mail body ("password: 1234"), as Emotet did in 2020-2022.
Technique: the MS-OFFCRYPTO markers of the OLE container (cheap; no key derivation), then
msoffcrypto-tool with VelvetSweatshop and the message's candidate passwords (ctx.password_sources). A
decrypted copy is appended to `Part.children` (container "office-decrypted") so office_macros,
office_xlm, office_objects and office_dde scan it like any other document; this detector must run
before them.
Emits: OFFICE_DEFAULT_PASSWORD (opened with VelvetSweatshop: an evasion in itself), OFFICE_PASSWORD_IN_MESSAGE
(opened with a password from the mail: the lure asks the user to type it), OFFICE_ENCRYPTED (no candidate
opened it: unscannable, policy decides).
A candidate counts as right when the decrypted bytes form a well-formed zip package or compound file
(msoffcrypto's `verify_password` rejects the right password on real Excel output, and its 97-2003
handlers check only their own RC4 verifier). Encrypted PowerPoint 97-2003 files are recognised by the
Current User stream's header token.
Blind spots: passwords given by phone (or in a mail the scan does not see); encryption methods
msoffcrypto-tool lacks (Word 95 and older); OOXML packages under 4 KiB, which
msoffcrypto-tool 6.1 fails to decrypt (they are reported as OFFICE_ENCRYPTED). Key derivation for agile
encryption (100,000 SHA-512 rounds in Python) costs 0.3-0.8 s per candidate, so at most `max_candidates`
(97-2003 RC4 and XOR: `max_cheap_candidates`) are tried, and a file asking for more rounds than Office uses is not tried at all.
"""

from __future__ import annotations

import io
import logging
import re
import struct
from typing import ClassVar, Iterable

import msoffcrypto
import olefile

from kakuri.detect.base import ScanContext
from kakuri.detect.office_format import (DECRYPTED_CONTAINER, OLE_MAGIC, OfficeKind, child_part, office_parts,
                                         open_package)
from kakuri.model import Finding, ParsedMessage, Part, SymbolSpec

DEFAULT_PASSWORD = "VelvetSweatshop"
_ENCRYPTION_INFO = "EncryptionInfo".encode("utf-16-le")  # directory entry of an encrypted OOXML package
_SPIN_COUNT = re.compile(rb'spinCount="(\d{1,12})"')
log = logging.getLogger(__name__)


class OfficeEncryption:
    name: ClassVar[str] = "office_encryption"
    symbols: ClassVar[tuple[SymbolSpec, ...]] = (
        SymbolSpec("OFFICE_ENCRYPTED", "office", "Password-protected Office document that could not be opened; its content was not scanned"),
        SymbolSpec("OFFICE_DEFAULT_PASSWORD", "office", "Office document encrypted with Excel's default password VelvetSweatshop (opens without a prompt)"),
        SymbolSpec("OFFICE_PASSWORD_IN_MESSAGE", "office", "Encrypted Office document that opened with a password found in the message"),
    )

    def __init__(self, max_candidates: int = 3, max_spin_count: int = 100_000, max_cheap_candidates: int = 10) -> None:
        self.max_candidates = max_candidates  # agile encryption: each candidate costs the key derivation
        self.max_cheap_candidates = max_cheap_candidates  # 97-2003 RC4/XOR: milliseconds a candidate
        self.max_spin_count = max_spin_count  # Office writes 100000; more only makes a gateway burn CPU

    def check(self, message: ParsedMessage, ctx: ScanContext) -> Iterable[Finding]:
        for part, kind in list(office_parts(message)):
            if kind is not OfficeKind.OLE or part.container == DECRYPTED_CONTAINER or not _is_encrypted(part.data):
                continue
            yield self._open(part, message, ctx)

    def _open(self, part: Part, message: ParsedMessage, ctx: ScanContext) -> Finding:
        spin = _spin_count(part.data)
        if spin > self.max_spin_count:
            return Finding("OFFICE_ENCRYPTED", self.name, part.path, {"tried": "0", "spin_count": str(spin)})
        # ECMA-376 packages (agile and standard AES) derive keys from 50,000-100,000 hash rounds; the RC4/XOR
        # of 97-2003 binaries checks a candidate in milliseconds.
        limit = self.max_candidates if _ENCRYPTION_INFO in part.data else self.max_cheap_candidates
        candidates = [DEFAULT_PASSWORD, *_message_passwords(message, ctx)][:limit]
        for password in candidates:
            plain = _decrypt(part.data, password)
            if plain is None:
                continue
            child_part(part, f"[decrypted] {part.filename or 'document'}", plain, DECRYPTED_CONTAINER, password)
            symbol = "OFFICE_DEFAULT_PASSWORD" if password == DEFAULT_PASSWORD else "OFFICE_PASSWORD_IN_MESSAGE"
            return Finding(symbol, self.name, part.path, {"password": password, "decrypted_bytes": str(len(plain))})
        return Finding("OFFICE_ENCRYPTED", self.name, part.path, {"tried": str(len(candidates))})


def _is_encrypted(data: bytes) -> bool:
    """The encryption markers of MS-OFFCRYPTO, read directly: oletools.crypto.is_encrypted costs ~3 ms a file,
    this ~0.3 ms (the olefile parse), and it runs on every OLE attachment."""
    try:
        ole = olefile.OleFileIO(data)
        if ole.exists("EncryptionInfo") or ole.exists("EncryptedPackage") or ole.exists("EncryptedSummary"):
            return True  # encrypted OOXML package
        if ole.exists("Current User") and ole.exists("PowerPoint Document"):
            # CurrentUserAtom.headerToken (MS-PPT 2.3.2): 0xF3D1C4DF when the presentation is encrypted
            current_user = ole.openstream("Current User").read(16)
            return len(current_user) == 16 and struct.unpack_from("<I", current_user, 12)[0] == 0xF3D1C4DF
        if ole.exists("WordDocument"):
            fib = ole.openstream("WordDocument").read(12)
            return len(fib) == 12 and bool(struct.unpack_from("<H", fib, 10)[0] & 0x0100)  # FIB fEncrypted
        stream = next((s for s in ("Workbook", "Book") if ole.exists(s)), None)
        return stream is not None and _has_filepass(ole.openstream(stream).read(65536))
    except Exception:  # a broken container is office_macros' business (OFFICE_UNPARSEABLE)
        return False


def _has_filepass(workbook: bytes) -> bool:
    """FILEPASS (0x2F) comes in the globals before the first BOUNDSHEET (0x85)."""
    offset = 0
    while offset + 4 <= len(workbook):
        rec_type, length = struct.unpack_from("<HH", workbook, offset)
        if rec_type == 0x002F:
            return True
        if rec_type in (0x0085, 0x000A):
            return False
        offset += 4 + length
    return False


def _spin_count(data: bytes) -> int:
    """The key-derivation rounds an agile-encrypted package asks for (0 for the older RC4/standard methods)."""
    counts = [int(n) for n in _SPIN_COUNT.findall(data[:1_000_000])]
    return max(counts, default=0)


def _decrypt(data: bytes, password: str) -> bytes | None:
    """The plaintext if `password` opens `data` into a well-formed container, else None.

    msoffcrypto's own key check (`verify_password=True`) rejects the right password on real Excel output
    of the standard (AES-128) method, and the RC4/CryptoAPI handlers of .xls/.doc/.ppt do not take the
    argument at all; so we decrypt and judge the result instead: a wrong key yields noise, never a valid
    zip package or compound file."""
    try:
        office_file = msoffcrypto.OfficeFile(io.BytesIO(data))
        office_file.load_key(password=password)  # the 97-2003 handlers still check their RC4 verifier here
        out = io.BytesIO()
        office_file.decrypt(out)
    except Exception as exc:  # wrong password, unsupported method and corrupt data all mean "not opened"
        log.debug("decryption with a candidate failed: %s", type(exc).__name__)
        return None
    plain = out.getvalue()
    return plain if _is_well_formed(plain) else None


def _is_well_formed(plain: bytes) -> bool:
    if plain[:4] == b"PK\x03\x04":
        package = open_package(plain)
        if package is None:
            return False
        with package:
            return any(name.lower() == "[content_types].xml" for name in package.namelist())
    if plain[:8] == OLE_MAGIC:
        try:
            ole = olefile.OleFileIO(plain)
            return bool(ole.listdir(streams=True, storages=False))
        except Exception:  # a garbled directory: the key was wrong
            return False
    return False


def _message_passwords(message: ParsedMessage, ctx: ScanContext) -> list[str]:
    found: dict[str, None] = {}
    for source in ctx.password_sources:
        try:
            for candidate in source.passwords(message, ctx.envelope):
                if candidate and candidate != DEFAULT_PASSWORD:
                    found.setdefault(candidate, None)
        except Exception:  # a broken source only means fewer candidates
            continue
    return list(found)
