"""PowerPoint shapes whose action settings run a program, or a macro as soon as the mouse passes over.

Threat: presentations (.ppsx/.pptx/.pps/.ppt) that need no macro at all: a shape with the action "Run
program" pointing at powershell/cmd/mshta (the 2017 "mouse-over" campaigns: hovering over a slideshow
link starts the download), or a macro wired to the mouse-over of a full-slide shape, which PowerPoint
runs without a click.
Technique: OOXML slides: <a:hlinkClick>/<a:hlinkMouseOver> with action="ppaction://program" (target in
the slide's relationships) or "ppaction://macro?name=..." on mouse-over; PowerPoint 97-2003: the record
walk of the "PowerPoint Document" stream finds InteractiveInfoAtom records (MS-PPT 2.7.30) with action
2 (run program) or action 1 (macro) inside a mouse-over container (instance 1), and the program or
macro name from the CString that follows.
Emits: OFFICE_ACTION_PROGRAM (evidence: program, trigger; weight 0.3 on click, which the user chooses),
MACRO_AUTOEXEC (a macro on mouse-over).
Blind spots: macros on click (the user chooses; office_macros still reports the macro), actions on
objects other than shapes (animations, triggers).
"""

from __future__ import annotations

import html
import re
import struct
from typing import ClassVar, Iterable

import olefile

from kakuri.detect.base import ScanContext
from kakuri.detect.office_format import OfficeKind, members_matching, office_parts, open_package, read_member
from kakuri.detect.office_macros import MACRO_AUTOEXEC_SPEC
from kakuri.model import Finding, ParsedMessage, Part, SymbolSpec

_SLIDE_MEMBER = re.compile(r"^ppt/(slides|slidelayouts|slidemasters)/[^/]+\.xml$")
_HLINK = re.compile(rb"<(?:\w+:)?hlink(Click|MouseOver)\b([^>]*)>")
_ATTR = re.compile(rb'([\w:]+)\s*=\s*"([^"]*)"')
_RELATIONSHIP = re.compile(rb"<(?:\w+:)?Relationship\b([^>]*)>")
_INTERACTIVE_INFO, _INTERACTIVE_ATOM, _CSTRING = 0x0FF2, 0x0FF3, 0x0FBA
_ACTION_MACRO, _ACTION_PROGRAM = 1, 2
_MAX_STREAM = 64 * 1024 * 1024
_CLICK_WEIGHT = 0.3


class OfficeActions:
    name: ClassVar[str] = "office_actions"
    symbols: ClassVar[tuple[SymbolSpec, ...]] = (
        SymbolSpec("OFFICE_ACTION_PROGRAM", "office", "PowerPoint shape whose action runs a program (on click or mouse-over)"),
        MACRO_AUTOEXEC_SPEC,
    )

    def check(self, message: ParsedMessage, ctx: ScanContext) -> Iterable[Finding]:
        for part, kind in office_parts(message):
            if kind is OfficeKind.OOXML:
                actions = _package_actions(part.data)
            elif kind is OfficeKind.OLE and part.true_type in ("ppt", "ole", None):
                actions = _ppt_actions(part.data)
            else:
                continue
            yield from (_finding(self.name, part, *action) for action in actions[:20])


def _finding(detector: str, part: Part, action: str, trigger: str, target: str) -> Finding:
    if action == "program":
        # On click the user chose to start it (and PowerPoint asks first); on mouse-over a glance is enough.
        return Finding("OFFICE_ACTION_PROGRAM", detector, part.path, {"program": target[:300], "trigger": trigger},
                       weight=1.0 if trigger == "mouse-over" else _CLICK_WEIGHT)
    return Finding("MACRO_AUTOEXEC", detector, part.path, {"triggers": f"{target[:100]} (mouse-over)"})


Action = tuple[str, str, str]  # ("program" | "macro", "click" | "mouse-over", program or macro name)


def _package_actions(data: bytes) -> list[Action]:
    package = open_package(data)
    if package is None:
        return []
    found: list[Action] = []
    with package:
        for name in members_matching(package, _SLIDE_MEMBER):
            xml = read_member(package, name)
            if b"ppaction://" not in xml:
                continue
            folder, _, base = name.rpartition("/")
            targets = _relationship_targets(read_member(package, f"{folder}/_rels/{base}.rels"))
            for event, attrs in _HLINK.findall(xml):
                values = {k.decode().split(":")[-1].lower(): html.unescape(v.decode("utf-8", "replace"))
                          for k, v in _ATTR.findall(attrs)}
                action = values.get("action", "").lower()
                trigger = "mouse-over" if event == b"MouseOver" else "click"
                if action.startswith("ppaction://program"):
                    found.append(("program", trigger, targets.get(values.get("id", ""), "")))
                elif action.startswith("ppaction://macro") and trigger == "mouse-over":
                    found.append(("macro", trigger, values["action"].partition("name=")[2]))
    return found


def _relationship_targets(xml: bytes) -> dict[str, str]:
    targets = {}
    for match in _RELATIONSHIP.finditer(xml):
        attrs = {k.decode().lower(): html.unescape(v.decode("utf-8", "replace")) for k, v in _ATTR.findall(match.group(1))}
        targets[attrs.get("id", "")] = attrs.get("target", "")
    return targets


def _ppt_actions(data: bytes) -> list[Action]:
    """InteractiveInfoAtom records of the PowerPoint Document stream: a flat walk over record headers (a
    container's records follow its header), remembering the instance of the last InteractiveInfo
    container (0 = mouse click, 1 = mouse over)."""
    try:
        ole = olefile.OleFileIO(data)
        if not ole.exists("PowerPoint Document"):
            return []
        stream = ole.openstream("PowerPoint Document").read(_MAX_STREAM)
    except Exception:  # unreadable: office_macros reports OFFICE_UNPARSEABLE
        return []
    found: list[Action] = []
    offset, trigger, pending = 0, "click", None
    while offset + 8 <= len(stream):
        ver_instance, rec_type, length = struct.unpack_from("<HHI", stream, offset)
        if ver_instance & 0x000F == 0x000F:
            if rec_type == _INTERACTIVE_INFO:
                trigger = "mouse-over" if ver_instance >> 4 == 1 else "click"
            offset += 8
            continue
        body = stream[offset + 8 : offset + 8 + length]
        offset += 8 + length
        if rec_type == _INTERACTIVE_ATOM and len(body) >= 9:
            action = body[8]
            pending = None
            if action == _ACTION_PROGRAM or (action == _ACTION_MACRO and trigger == "mouse-over"):
                pending = ("program" if action == _ACTION_PROGRAM else "macro", trigger)
                found.append((*pending, ""))
        elif rec_type == _CSTRING and pending is not None:
            found[-1] = (*pending, body.decode("utf-16-le", "replace"))
            pending = None
    return found
