"""Real containers built in code: zip (plain, ZipCrypto, AES), 7z, tar, gzip/bzip2/xz, ISO 9660,
RAR 4 and RAR 5 (stored), OneNote sections with embedded files, TNEF, and zip bombs of three kinds.

RAR and TNEF writers are hand-written from the published formats (RARLAB technote for RAR 1.5-4,
RAR 5 archive format page, MS-OXTNEF) because no free tool on Debian writes RAR and no Python library writes TNEF.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import struct
import tarfile
import zipfile
import zlib

import py7zr
import pycdlib
import pyzipper

ONENOTE_MAGIC = bytes.fromhex("e4525c7b8cd8a74daeb15378d02996d3")
FILE_DATA_STORE = bytes.fromhex("e716e3bd65261145a4c48d4d0b7a9eac")
FILE_DATA_FOOTER = bytes.fromhex("22a7fb71790f0b4abb13899256426b24")
PE_STUB = b"MZ" + b"\x90" * 58 + struct.pack("<I", 64) + b"PE\x00\x00" + b"\x4c\x01" + b"\x00" * 200
LNK_HEADER = bytes.fromhex("4c0000000114020000000000c000000000000046") + b"\x00" * 56


def zip_of(files: dict[str, bytes], *, stored: bool = False) -> bytes:
    out = io.BytesIO()
    method = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(out, "w", method) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return out.getvalue()


def encrypted_zip(files: dict[str, bytes], password: str, *, aes: bool = False) -> bytes:
    """ZipCrypto (what Windows and Japanese PPAP tools write) or WinZip AES-256 (pyzipper)."""
    if not aes:  # pyzipper writes AES only
        return raw_zip([(name.encode("utf-8"), data) for name, data in files.items()], password=password, utf8=True)
    out = io.BytesIO()
    with pyzipper.AESZipFile(out, "w", compression=pyzipper.ZIP_DEFLATED, encryption=pyzipper.WZ_AES) as archive:
        archive.setpassword(password.encode("utf-8"))
        for name, data in files.items():
            archive.writestr(name, data)
    return out.getvalue()


class _ZipCrypto:
    """PKWARE traditional encryption (APPNOTE 6.1): three CRC-driven keys over the plaintext."""

    def __init__(self, password: bytes) -> None:
        self.keys = [0x12345678, 0x23456789, 0x34567890]
        for byte in password:
            self._update(byte)

    def _crc(self, crc: int, byte: int) -> int:
        return zlib.crc32(bytes([byte]), crc ^ 0xFFFFFFFF) ^ 0xFFFFFFFF

    def _update(self, byte: int) -> None:
        k = self.keys
        k[0] = self._crc(k[0], byte)
        k[1] = ((k[1] + (k[0] & 0xFF)) * 134775813 + 1) & 0xFFFFFFFF
        k[2] = self._crc(k[2], (k[1] >> 24) & 0xFF)

    def encrypt(self, data: bytes) -> bytes:
        out = bytearray()
        for byte in data:
            temp = (self.keys[2] | 2) & 0xFFFF
            out.append(byte ^ (((temp * (temp ^ 1)) >> 8) & 0xFF))
            self._update(byte)
        return bytes(out)


def raw_zip(entries: list[tuple[bytes, bytes]], *, password: str | None = None, utf8: bool = False) -> bytes:
    """A deflate zip written byte by byte: raw (e.g. cp932) names, optional ZipCrypto."""
    local, central = b"", b""
    flags = (0x800 if utf8 else 0) | (0x1 if password else 0)
    for name, data in entries:
        crc = zlib.crc32(data)
        packer = zlib.compressobj(9, zlib.DEFLATED, -15)
        payload = packer.compress(data) + packer.flush()
        if password:
            header = bytes(range(11)) + bytes([crc >> 24])  # last byte: the check byte readers test
            payload = _ZipCrypto(password.encode("utf-8")).encrypt(header + payload)
        offset = len(local)
        local += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, flags, 8, 0, 0x21, crc, len(payload), len(data),
                             len(name), 0) + name + payload
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, flags, 8, 0, 0x21, crc, len(payload),
                               len(data), len(name), 0, 0, 0, 0, 0, offset) + name
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(entries), len(entries), len(central), len(local), 0)
    return local + central + end


def seven_zip(files: dict[str, bytes], *, password: str | None = None, encrypt_headers: bool = False) -> bytes:
    out = io.BytesIO()
    with py7zr.SevenZipFile(out, "w", password=password) as archive:
        if encrypt_headers:
            archive.set_encrypted_header(True)
        for name, data in files.items():
            archive.writestr(data, name)
    return out.getvalue()


def tar_of(files: dict[str, bytes], *, compression: str = "") -> bytes:
    """compression: "" (plain tar), "gz", "bz2" or "xz"."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode=f"w:{compression}") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return out.getvalue()


def compressed(data: bytes, kind: str) -> bytes:
    if kind == "zstd":
        from backports import zstd  # installed with py7zr; the stdlib's compression.zstd from 3.14

        return zstd.compress(data)
    return {"gzip": gzip.compress, "bzip2": bz2.compress, "xz": lzma.compress}[kind](data)


def iso_of(files: dict[str, bytes]) -> bytes:
    """ISO 9660 with Joliet names, as Windows' "burn" and the 2022 malware ISOs are made."""
    iso = pycdlib.PyCdlib()
    iso.new(joliet=3)
    directories: dict[str, str] = {"": ""}
    for index, (name, data) in enumerate(files.items()):
        folder, _, leaf = name.rpartition("/")
        if folder not in directories:  # one level of folders is enough for the tests
            directories[folder] = f"/D{len(directories)}"
            iso.add_directory(directories[folder], joliet_path=f"/{folder}")
        ext = leaf.rsplit(".", 1)[-1].upper()[:3] if "." in leaf else "BIN"
        iso.add_fp(io.BytesIO(data), len(data), f"{directories[folder]}/F{index}.{ext};1", joliet_path=f"/{name}")
    out = io.BytesIO()
    iso.write_fp(out)
    iso.close()
    return out.getvalue()


def onenote_with(payloads: list[bytes]) -> bytes:
    """A OneNote section: header GUID, filler, then one FileDataStoreObject per embedded file."""
    blob = bytearray(ONENOTE_MAGIC + b"\x00" * 1008)
    for payload in payloads:
        blob += FILE_DATA_STORE + struct.pack("<QIQ", len(payload), 0, 0) + payload
        blob += b"\x00" * (-len(payload) % 8) + FILE_DATA_FOOTER
    return bytes(blob)


def _tnef_attribute(level: int, attribute: int, data: bytes) -> bytes:
    return struct.pack("<BII", level, attribute, len(data)) + data + struct.pack("<H", sum(data) & 0xFFFF)


def tnef_with(attachments: dict[str, bytes]) -> bytes:
    """winmail.dat: signature, key, message class, then per attachment RendData, Title and Data."""
    out = struct.pack("<IH", 0x223E9F78, 0x0001)
    out += _tnef_attribute(1, 0x00089006, struct.pack("<I", 0x00010000))  # attTnefVersion
    out += _tnef_attribute(1, 0x00069007, struct.pack("<II", 1252, 0))  # attOemCodepage
    out += _tnef_attribute(1, 0x00078008, b"IPM.Note\x00")  # attMessageClass
    for name, data in attachments.items():
        out += _tnef_attribute(2, 0x00069002, b"\x01\x00" + b"\xff" * 4 + b"\x00" * 8)  # attAttachRenddata
        out += _tnef_attribute(2, 0x00018010, name.encode("cp1252") + b"\x00")  # attAttachTitle
        out += _tnef_attribute(2, 0x0006800F, data)  # attAttachData
    return out


def fat12_image(files: dict[str, bytes], *, data_sectors: int = 256) -> bytes:
    """A FAT12 volume (what `mkfs.fat` makes for a small .img) with 8.3 names in the root directory."""
    root_entries, fat_sectors = 224, 2
    root_sectors = root_entries * 32 // 512
    total = 1 + 2 * fat_sectors + root_sectors + data_sectors
    boot = bytearray(512)
    boot[0:11] = b"\xeb\x3c\x90MSDOS5.0"
    struct.pack_into("<HBHBHHBHHHII", boot, 11, 512, 1, 1, 2, root_entries, total, 0xF8, fat_sectors, 32, 2, 0, 0)
    struct.pack_into("<BBBI11s8s", boot, 36, 0x80, 0, 0x29, 0x1234ABCD, b"KAKURI     ", b"FAT12   ")
    boot[510:512] = b"\x55\xaa"
    entries = [0xFF8, 0xFFF]
    root, data = bytearray(), bytearray()
    for name, payload in files.items():
        stem, _, ext = name.upper().partition(".")
        clusters = max(1, -(-len(payload) // 512))
        first = len(entries)
        entries += [first + i + 1 for i in range(clusters - 1)] + [0xFFF]
        root += struct.pack("<8s3sB8xHHHHI", stem[:8].ljust(8).encode(), ext[:3].ljust(3).encode(), 0x20, 0, 0,
                            0x21, first, len(payload))
        data += payload.ljust(clusters * 512, b"\0")
    fat = bytearray()
    entries += [0] * (len(entries) % 2)
    for a, b in zip(entries[::2], entries[1::2]):
        fat += struct.pack("<I", a | (b << 12))[:3]
    fat = bytes(fat).ljust(fat_sectors * 512, b"\0")
    return bytes(boot) + fat * 2 + bytes(root).ljust(root_sectors * 512, b"\0") + bytes(data).ljust(data_sectors * 512, b"\0")


def mbr_disk(volume: bytes, *, partition_type: int = 0x01, start_lba: int = 1) -> bytes:
    """A disk with an MBR partition table and one partition holding `volume`."""
    mbr = bytearray(512)
    struct.pack_into("<B3sB3sII", mbr, 446, 0x80, b"\0\0\0", partition_type, b"\0\0\0", start_lba, len(volume) // 512)
    mbr[510:512] = b"\x55\xaa"
    return bytes(mbr) + b"\0" * 512 * (start_lba - 1) + volume


def fixed_vhd(disk: bytes) -> bytes:
    """A fixed-size VHD: the raw disk followed by the 512-byte "conectix" footer."""
    footer = bytearray(512)
    struct.pack_into(">8sIIQI4sI4sQQIII", footer, 0, b"conectix", 2, 0x00010000, 0xFFFFFFFFFFFFFFFF, 0, b"win ",
                     0x000A0000, b"Wi2k", len(disk), len(disk), 0, 2, 0)
    struct.pack_into(">I", footer, 64, ~sum(footer) & 0xFFFFFFFF)
    return disk + bytes(footer)


def cab_stored(files: dict[str, bytes]) -> bytes:
    """A Microsoft cabinet with one uncompressed folder and one data block (MS-CAB)."""
    blob = b"".join(files.values())
    assert len(blob) <= 32768, "one CFDATA block only"
    entries, offset = b"", 0
    for name, data in files.items():
        entries += struct.pack("<IIHHHH", len(data), offset, 0, 0x5121, 0, 0x20) + name.encode("ascii") + b"\0"
        offset += len(data)
    files_at = 36 + 8
    data_at = files_at + len(entries)
    total = data_at + 8 + len(blob)
    header = struct.pack("<4sIIIIIBBHHHHH", b"MSCF", 0, total, 0, files_at, 0, 3, 1, 1, len(files), 0, 0, 0)
    folder = struct.pack("<IHH", data_at, 1, 0)
    return header + folder + entries + struct.pack("<IHH", 0, len(blob), len(blob)) + blob


def _rar_block(kind: int, flags: int, body: bytes) -> bytes:
    header = struct.pack("<BHH", kind, flags, 7 + len(body)) + body
    return struct.pack("<H", zlib.crc32(header) & 0xFFFF) + header


def rar4_stored(files: dict[str, bytes], *, encrypted: bool = False) -> bytes:
    """A RAR 4 archive with stored (method 0x30) members; `encrypted` only sets the member flag."""
    out = b"Rar!\x1a\x07\x00" + _rar_block(0x73, 0, b"\x00" * 6)
    for name, data in files.items():
        encoded = name.encode("ascii")
        flags = 0x8000 | (0x04 if encrypted else 0)
        body = struct.pack("<IIBIIBBHI", len(data), len(data), 2, zlib.crc32(data), 0x514F0000, 20, 0x30,
                           len(encoded), 0x20) + encoded
        out += _rar_block(0x74, flags, body) + data
    return out + _rar_block(0x7B, 0x4000, b"")


def _vint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _rar5_block(kind: int, body: bytes, *, data_size: int | None = None, extra: bytes = b"") -> bytes:
    flags = (0x01 if extra else 0) | (0x02 if data_size is not None else 0)
    header = _vint(kind) + _vint(flags)
    header += (_vint(len(extra)) if extra else b"") + (_vint(data_size) if data_size is not None else b"")
    header += body + extra
    sized = _vint(len(header)) + header
    return struct.pack("<I", zlib.crc32(sized)) + sized


def rar5_stored(files: dict[str, bytes], *, encrypted: bool = False) -> bytes:
    """A RAR 5 archive with stored members; `encrypted` adds a file-encryption record (AES-256 fields)."""
    out = b"Rar!\x1a\x07\x01\x00" + _rar5_block(1, _vint(0))
    for name, data in files.items():
        encoded = name.encode("utf-8")
        body = _vint(0x04) + _vint(len(data)) + _vint(0x20) + struct.pack("<I", zlib.crc32(data))
        body += _vint(0) + _vint(0) + _vint(len(encoded)) + encoded  # stored, Windows, name
        extra = b""
        if encrypted:
            record = _vint(0x01) + _vint(0) + _vint(0) + bytes([15]) + bytes(16) + bytes(16)
            extra = _vint(len(record)) + record
        out += _rar5_block(2, body, data_size=len(data), extra=extra) + data
    return out + _rar5_block(5, _vint(0))


def rar5_encrypted(files: dict[str, bytes], password: str, *, kdf_log2: int = 15) -> bytes:
    """A RAR 5 archive whose stored members are really encrypted as RAR 5 does it (RAR 5 archive
    format, "File encryption record"): AES-256-CBC, key = PBKDF2-HMAC-SHA256(password, salt, 2^n), and the
    password check value (the same PBKDF2 run 32 rounds longer, XOR-folded to 8 bytes, plus 4 bytes of
    its SHA-256) that lets a reader refuse a wrong password."""
    import hashlib
    import os

    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    out = b"Rar!\x1a\x07\x01\x00" + _rar5_block(1, _vint(0))
    for name, data in files.items():
        salt, iv = os.urandom(16), os.urandom(16)
        key = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, 1 << kdf_log2)
        longer = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, (1 << kdf_log2) + 32)
        check = bytearray(8)
        for index, byte in enumerate(longer):
            check[index & 7] ^= byte
        padded = data + b"\x00" * (-len(data) % 16)
        encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
        sealed = encryptor.update(padded) + encryptor.finalize()
        encoded = name.encode("utf-8")
        body = _vint(0x04) + _vint(len(data)) + _vint(0x20) + struct.pack("<I", zlib.crc32(data))
        body += _vint(0) + _vint(0) + _vint(len(encoded)) + encoded  # stored, Windows, name
        record = _vint(0x01) + _vint(0) + _vint(0x01) + bytes([kdf_log2]) + salt + iv
        record += bytes(check) + hashlib.sha256(bytes(check)).digest()[:4]
        out += _rar5_block(2, body, data_size=len(sealed), extra=_vint(len(record)) + record) + sealed
    return out + _rar5_block(5, _vint(0))


def udf_only_of(files: dict[str, bytes]) -> bytes:
    """A UDF 2.60 disc without ISO 9660 descriptors (what pycdlib cannot open): pycdlib writes a UDF bridge
    disc, then its volume recognition sequence is moved to sector 16 over the ISO 9660 descriptors."""
    iso = pycdlib.PyCdlib()
    iso.new(udf="2.60")
    for index, (name, data) in enumerate(files.items()):
        iso.add_fp(io.BytesIO(data), len(data), f"/F{index}.BIN;1", udf_path=f"/{name}")
    out = io.BytesIO()
    iso.write_fp(out)
    iso.close()
    disc, sector = bytearray(out.getvalue()), 2048
    start = next(n for n in range(16, 32) if disc[n * sector + 1:n * sector + 6] == b"BEA01")
    recognition = bytes(disc[start * sector:(start + 3) * sector])  # BEA01, NSR02/03, TEA01
    disc[16 * sector:(start + 3) * sector] = recognition + bytes((start - 16) * sector)
    return bytes(disc)


def ntfs_volume(files: dict[str, bytes], *, megabytes: int = 8) -> bytes:
    """A real NTFS volume made by Debian's ntfs-3g tools (mkntfs, then ntfscp per file; no mount, no root)."""
    import subprocess
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as folder:
        image = Path(folder, "volume.img")
        image.write_bytes(b"\x00" * (megabytes << 20))
        subprocess.run(["mkntfs", "-F", "-f", "-q", "-L", "SHARE", str(image)], check=True, capture_output=True)
        for index, (name, data) in enumerate(files.items()):
            source = Path(folder, f"src{index}")
            source.write_bytes(data)
            subprocess.run(["ntfscp", "-f", str(image), str(source), name], check=True, capture_output=True)
        return image.read_bytes()


def nested_zip_bomb(levels: int, copies: int, leaf_bytes: int) -> bytes:
    """42.zip style: `copies` zips of `copies` zips ... of a file of zeros."""
    layer = zip_of({"0.dat": b"\x00" * leaf_bytes})
    for level in range(levels):
        layer = zip_of({f"{level}_{i}.zip": layer for i in range(copies)})
    return layer


def overlapping_zip_bomb(entries: int, kernel_bytes: int) -> bytes:
    """David Fifield's construction (full overlap): every central-directory entry points at one local
    file header, so one small deflate kernel is "extracted" `entries` times."""
    name = b"0"
    kernel = zlib.compressobj(9, zlib.DEFLATED, -15)
    packed = kernel.compress(b"\x00" * kernel_bytes) + kernel.flush()
    crc = zlib.crc32(b"\x00" * kernel_bytes)
    local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0, crc, len(packed), kernel_bytes,
                        len(name), 0) + name + packed
    central = b""
    for index in range(entries):
        entry_name = str(index).encode()
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 8, 0, 0, crc, len(packed),
                               kernel_bytes, len(entry_name), 0, 0, 0, 0, 0, 0) + entry_name
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, entries, entries, len(central), len(local), 0)
    return local + central + end
