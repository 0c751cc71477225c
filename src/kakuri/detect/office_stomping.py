"""VBA stomping: macro source removed or replaced while the compiled p-code, which Office runs, remains.

Threat: maldocs (EvilClippy, Emotet/Qakbot variants) whose VBA source streams are blanked or replaced by
harmless code so that source-reading scanners (olevba, our office_macros) see nothing or something
innocent; Office runs the p-code when the document is opened in the VBA version it was compiled for.
Technique: pcodedmp (the library olevba itself uses for this) disassembles the p-code of every module of
the project, in memory, through the same olevba parser; the names the p-code calls, loads and stores
and its string literals must all appear in the source, as olevba's `detect_vba_stomping` checks (that
method only works on files on disk, hence this adapter). A name or literal of the p-code that the
source lacks is the finding. Runs only on parts where olevba finds a VBA project.
Emits: MACRO_STOMPED (evidence: p-code names and literals missing from the source, and the p-code's
procedure names), MACRO_AUTOEXEC when a stomped p-code procedure is an auto-run trigger (Auto_Open...).
Blind spots: projects whose p-code was removed too (source only: office_macros reads them), p-code of a
VBA version pcodedmp cannot read, and a replacement source that mentions every name of the real p-code.
"""

from __future__ import annotations

import contextlib
import io
import types
from typing import ClassVar, Iterable

import olefile
from oletools import olevba

from kakuri.detect.base import ScanContext
from kakuri.detect.office_format import OLE_MAGIC, OfficeKind, office_parts, open_package, read_member
from kakuri.detect.office_macros import MACRO_AUTOEXEC_SPEC, autoexec_regex
from kakuri.model import Finding, ParsedMessage, Part, SymbolSpec

_NAME_MNEMONICS = ("ArgsCall", "ArgsLd", "St", "Ld", "MemSt", "Label")
_PCODEDMP_ARGS = types.SimpleNamespace(disasmOnly=True, verbose=False)


class OfficeStomping:
    name: ClassVar[str] = "office_stomping"
    symbols: ClassVar[tuple[SymbolSpec, ...]] = (
        SymbolSpec("MACRO_STOMPED", "office", "VBA p-code that does not match the macro source (VBA stomping): the code that runs is hidden"),
        MACRO_AUTOEXEC_SPEC,
    )

    def __init__(self, max_part_bytes: int = 20_000_000) -> None:
        self.max_part_bytes = max_part_bytes  # pcodedmp is pure Python: large projects cost seconds
        self._autoexec = autoexec_regex()

    def check(self, message: ParsedMessage, ctx: ScanContext) -> Iterable[Finding]:
        for part, kind in office_parts(message):
            if kind in (OfficeKind.OLE, OfficeKind.OOXML) and part.size <= self.max_part_bytes and has_pcode_cache(part, kind):
                yield from self._scan(part)

    def _scan(self, part: Part) -> list[Finding]:
        try:
            parser = olevba.VBA_Parser(part.filename or "document", data=part.data)
        except Exception:  # unreadable: office_macros reports OFFICE_UNPARSEABLE
            return []
        try:
            if not parser.detect_vba_macros() or not _projects_with_pcode(parser):
                return []
            source = "\n".join(code if isinstance(code, str) else code.decode("latin-1")
                               for _, stream, _, code in parser.extract_macros() if stream != "xlm_macro" and code)
            listing, pcode_errors = _pcode_listing(parser)
        except Exception:  # olevba/pcodedmp on hostile input: nothing to compare
            return []
        finally:
            parser.close()
        names, literals, procedures = pcode_keywords(listing)
        missing = sorted(k for k in names | literals if k not in source)
        if not missing:
            return []
        found = [Finding("MACRO_STOMPED", self.name, part.path,
                         {"missing_from_source": ", ".join(missing[:15])[:400],
                          "pcode_procedures": ", ".join(sorted(procedures)[:10])[:200],
                          "source_chars": str(len(source)),
                          **({"pcode_errors": pcode_errors[:200]} if pcode_errors else {})})]
        # The source no longer shows the trigger office_macros looks for; the p-code's procedure names do.
        triggers = sorted({m.group(0) for name in procedures if (m := self._autoexec.fullmatch(name))})
        if triggers:
            found.append(Finding("MACRO_AUTOEXEC", self.name, part.path, {"triggers": ", ".join(triggers), "from": "p-code"}))
        return found


def has_pcode_cache(part: Part, kind: OfficeKind) -> bool:
    """Cheap gate before olevba: some compound file of the part (the document, or an OOXML member such as
    vbaProject.bin) has a _VBA_PROJECT stream longer than its 7-byte header."""
    if kind is OfficeKind.OLE:
        return _ole_has_pcode_cache(part.data)
    package = open_package(part.data)
    if package is None:
        return False
    with package:
        return any(info.file_size >= 512 and read_member(package, info.filename, 8) == OLE_MAGIC
                   and _ole_has_pcode_cache(read_member(package, info.filename)) for info in package.infolist())


def _ole_has_pcode_cache(data: bytes) -> bool:
    try:
        ole = olefile.OleFileIO(data)
        return any(path[-1] == "_VBA_PROJECT" and ole.get_size(path) > 7 for path in ole.listdir())
    except Exception:  # not a readable compound file: nothing for pcodedmp either
        return False


def _projects_with_pcode(parser: olevba.VBA_Parser) -> list[tuple[olevba.VBA_Parser, str, str]]:
    """(parser, VBA root, dir stream) of every VBA project whose _VBA_PROJECT stream holds more than its
    7-byte header, i.e. a p-code cache (MS-OVBA 2.3.4.1). Source-only projects (written by generators,
    LibreOffice, our builders) have nothing to compare and cost no decompression or disassembly."""
    found = []
    for project in [parser] if parser.ole_file is not None else list(parser.ole_subfiles):
        for vba_root, _, dir_path in project.find_vba_projects() or ():
            path = vba_root + "VBA/_VBA_PROJECT"
            if project.ole_file.exists(path) and project.ole_file.get_size(path) > 7:
                found.append((project, vba_root, dir_path))
    return found


def _pcode_listing(parser: olevba.VBA_Parser) -> tuple[str, str]:
    """pcodedmp's disassembly of every project that carries p-code, and what it reported as errors.

    pcodedmp's processProject swallows errors; its steps are called here so a broken directory raises.
    Two of them (identifier table, module dump) still print their errors to stderr: that output is
    captured (scans run one per worker process) and returned, so a partial disassembly is visible in
    the evidence instead of the gateway's log."""
    from pcodedmp import pcodedmp  # imported on the first document with p-code: most mail never needs it

    out, errors = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(errors):
        for project, vba_root, dir_path in _projects_with_pcode(parser):
            dir_data, modules, is64bit = pcodedmp.processDir(project, dir_path, _PCODEDMP_ARGS, output_file=out)
            project_data = pcodedmp.process_VBA_PROJECT(project, vba_root + "VBA/_VBA_PROJECT", _PCODEDMP_ARGS,
                                                        output_file=out)
            identifiers = pcodedmp.getTheIdentifiers(project_data)
            for module in modules:
                data = project.ole_file.openstream(vba_root + "VBA/" + module).read()
                pcodedmp.pcodeDump(data, project_data, dir_data, identifiers, is64bit, _PCODEDMP_ARGS, output_file=out)
    return out.getvalue(), errors.getvalue().strip()


def pcode_keywords(listing: str) -> tuple[set[str], set[str], set[str]]:
    """(names called/loaded/stored, string literals as the source spells them, procedure names) of a
    pcodedmp disassembly; pcodedmp's "id_XXXX" placeholders ("Me", built-ins) have no source spelling."""
    names: set[str] = set()
    literals: set[str] = set()
    procedures: set[str] = set()
    for line in listing.splitlines():
        if not line.startswith("\t"):
            continue
        mnemonic, _, args = line.strip().partition(" ")
        args = args.strip()
        if mnemonic in _NAME_MNEMONICS and args:
            args = args.removeprefix("(Call) ")
            name = args.split(None, 1)[0]
            if not name.startswith("id_"):
                names.add(name)
        elif mnemonic == "LitStr" and " " in args:
            text = args.split(None, 1)[1]
            if len(text) >= 2 and text[0] == text[-1] == '"':
                # pcodedmp prints an inner quote once; the source doubles it
                literals.add('"' + text[1:-1].replace('"', '""') + '"')
        elif mnemonic == "FuncDefn":
            words = args.lstrip("(").split("(", 1)[0].split()  # "(Sub Auto_Open())"
            if words:
                procedures.add(words[-1])
    return names, literals, procedures
