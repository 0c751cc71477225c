"""Known-bad files: IOC hash lists, YARA rules, and the EICAR anti-virus test file.

Threat: a sample already identified elsewhere (a CERT advisory, abuse.ch, our own incident) arriving
again, possibly reworded around the same attachment; families that a YARA rule describes; and AV test
mail, which must be handled exactly like real malware so that tests of the gateway mean something.
Technique: every MIME part and unpacked member (message.walk_parts(), so also files inside archives)
is hashed (SHA-256) and looked up in the loaded sets, scanned once by the YARA rules compiled at
start-up (size cap and timeout per part), and checked for the EICAR string at the start of the file.
Emits: IOC_HASH_MATCH (evidence: sha256, list file), IOC_YARA_MATCH (rule, namespace, tags),
IOC_YARA_INCOMPLETE, IOC_EICAR.
Blind spots: only what the lists and rules describe; parts larger than `max_yara_bytes` are scanned
in their first bytes only; encrypted members that could not be opened are not matched (their
container still is).

Data-folder layout (what `kakuri rules` and operators maintain; read once when the scanner is built,
so a change needs a restart or reload):

    <home>/rules/sha256/*.txt   one hex SHA-256 per line, `#` starts a comment; CSV exports such as
                                abuse.ch MalwareBazaar's also work: every 64-hex field on a line is read
    <home>/rules/sha256/*.csv   (same format as .txt)
    <home>/rules/yara/*.yar     YARA rules (also *.yara), one namespace per file (the file's stem).
                                Rules may use the external variables `filename`, `extension` and
                                `true_type` (the unpack stage's content type) of the part scanned.

The stock rules in `kakuri/data/yara/` are compiled in with them (namespace `kakuri_<stem>`) unless
`[detectors.iocs] stock_yara = false`. A rule's meta `weight` (a number 0..1, written as a string: YARA meta has no floats) scales its score, so a
generic rule can count less than a family signature. A rule file that does not compile stops the
start-up with an error naming the file; it never fails message by message.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from typing import ClassVar, Iterable, Iterator

import yara
from pydantic import BaseModel, ConfigDict, ValidationError

from kakuri.detect.base import ScanContext
from kakuri.detect.file_types import true_type_of
from kakuri.model import Finding, ParsedMessage, Part, SymbolSpec
from kakuri.settings import Settings, SettingsError

EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
_EICAR_MAX_BYTES = 128  # the test file may be followed by whitespace up to this length (EICAR's definition)
_SHA256 = re.compile(r"(?<![0-9A-Fa-f])[0-9A-Fa-f]{64}(?![0-9A-Fa-f])")
_EXTERNALS = {"filename": "", "extension": "", "true_type": ""}


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid")
    stock_yara: bool = True  # compile the rules shipped in kakuri/data/yara too
    max_yara_bytes: int = 32 * 1024 * 1024  # bytes of one part given to YARA
    yara_timeout_seconds: int = 5  # per part; YARA counts whole seconds


class Iocs:
    name: ClassVar[str] = "iocs"
    symbols: ClassVar[tuple[SymbolSpec, ...]] = (
        SymbolSpec("IOC_HASH_MATCH", "ioc", "A file's SHA-256 is on a loaded IOC hash list"),
        SymbolSpec("IOC_YARA_MATCH", "ioc", "A file matches a YARA rule (operator's or stock)"),
        SymbolSpec("IOC_YARA_INCOMPLETE", "ioc", "YARA could not finish scanning a file (timeout or scan limit); it was not fully checked"),
        SymbolSpec("IOC_EICAR", "ioc", "The EICAR anti-virus test file, handled like real malware"),
    )

    def __init__(self, hashes: dict[str, str], rules: yara.Rules | None, config: Config | None = None) -> None:
        self.hashes = hashes  # lower-case digest -> the list file it came from
        self.rules = rules
        self.config = config or Config()

    @classmethod
    def from_settings(cls, settings: Settings) -> Iocs:
        try:
            config = Config.model_validate(settings.detectors.get(cls.name, {}))
        except ValidationError as exc:
            raise SettingsError(f"[detectors.{cls.name}] in kakuri.toml: {exc}") from exc
        rules_dir = settings.path("rules")
        yara_files = sorted_files(rules_dir / "yara", ("*.yar", "*.yara"))
        stock = stock_yara_files() if config.stock_yara else {}
        return cls(load_hashes(rules_dir / "sha256"), compile_yara(yara_files, stock), config)

    def check(self, message: ParsedMessage, ctx: ScanContext) -> Iterable[Finding]:
        if len(message.text) <= 2 * _EICAR_MAX_BYTES and is_eicar(message.text.encode("utf-8", "replace")):
            yield Finding("IOC_EICAR", self.name, evidence={"where": "body text"})
        for part in message.walk_parts():
            if not part.data:  # a member we could not open has no content of its own to match
                continue
            if is_eicar(part.data):
                yield Finding("IOC_EICAR", self.name, part=part.path, evidence={"sha256": part.sha256})
            if self.hashes and (source := self.hashes.get(part.sha256)):
                yield Finding("IOC_HASH_MATCH", self.name, part=part.path, evidence={"sha256": part.sha256, "list": source})
            if self.rules is not None:
                yield from self._yara(part)

    def _yara(self, part: Part) -> Iterator[Finding]:
        externals = {
            "filename": part.filename or "",
            "extension": part.extension,
            "true_type": true_type_of(part),
        }
        try:
            matches = self.rules.match(
                data=_head(part.data, self.config.max_yara_bytes),
                externals=externals,
                timeout=self.config.yara_timeout_seconds,
                fast=True,
            )
        except yara.TimeoutError:
            yield Finding("IOC_YARA_INCOMPLETE", self.name, part=part.path, evidence={"sha256": part.sha256})
            return
        except yara.Error as exc:  # a rule hitting a runtime limit must not cost the other findings
            yield Finding("IOC_YARA_INCOMPLETE", self.name, part=part.path, evidence={"error": str(exc)[:200]})
            return
        for match in matches:
            evidence = {"rule": match.rule, "namespace": match.namespace, "tags": " ".join(match.tags)}
            if description := match.meta.get("description"):
                evidence["description"] = str(description)[:200]
            yield Finding("IOC_YARA_MATCH", self.name, part=part.path, evidence=evidence, weight=_weight(match.meta))


def is_eicar(data: bytes) -> bool:
    """The EICAR test file: the string at the very start, nothing but whitespace after, 128 bytes at most."""
    if len(data) > 2 * _EICAR_MAX_BYTES:  # cheap exit for every real attachment
        return False
    data = data.lstrip()  # not in EICAR's definition, but mailers and editors add it
    return data.startswith(EICAR) and len(data) <= _EICAR_MAX_BYTES and not data[len(EICAR):].strip()


def _head(data: bytes, limit: int) -> bytes:
    return data if len(data) <= limit else data[:limit]  # slicing always copies; most parts are small


def _weight(meta: dict) -> float:
    try:
        return min(max(float(meta.get("weight", 1.0)), 0.0), 1.0)
    except (TypeError, ValueError):
        return 1.0


def sorted_files(folder: Path, patterns: tuple[str, ...]) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted({path for pattern in patterns for path in folder.glob(pattern) if path.is_file()})


def load_hashes(folder: Path) -> dict[str, str]:
    """Digest -> list file name, from every *.txt / *.csv in `folder` (missing folder: no hashes)."""
    hashes: dict[str, str] = {}
    for path in sorted_files(folder, ("*.txt", "*.csv")):
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            raise SettingsError(f"{path}: cannot read IOC hash list ({exc})") from exc
        for line in text.splitlines():
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            for digest in _SHA256.findall(line):
                hashes.setdefault(digest.lower(), path.name)
    return hashes


def stock_yara_files() -> dict[str, Path]:
    folder = resources.files("kakuri") / "data" / "yara"
    if not folder.is_dir():
        return {}
    return {f"kakuri_{Path(entry.name).stem}": Path(str(entry)) for entry in folder.iterdir() if entry.name.endswith(".yar")}


def compile_yara(user_files: list[Path], stock: dict[str, Path]) -> yara.Rules | None:
    """All rule files compiled once, together; a bad file raises SettingsError naming it."""
    filepaths = {**{name: str(path) for name, path in stock.items()}, **{path.stem: str(path) for path in user_files}}
    if not filepaths:
        return None
    try:
        return yara.compile(filepaths=filepaths, externals=_EXTERNALS)
    except yara.Error as exc:
        culprit = _first_bad_file(filepaths)
        where = culprit or "YARA rules"
        raise SettingsError(f"{where}: cannot compile YARA rules ({exc}); fix or remove the file and restart") from exc


def _first_bad_file(filepaths: dict[str, str]) -> str | None:
    for path in filepaths.values():
        try:
            yara.compile(filepath=path, externals=_EXTERNALS)
        except yara.Error:
            return path
    return None
