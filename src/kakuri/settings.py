"""Root settings: the data folder's `kakuri.toml` plus KAKURI_* environment. The only place config is read.

Each stage owns the model of its own section (`unpack.limits.UnpackLimits`, ...); this module composes
them and validates everything once at start-up, with errors that name the file and key.

Secrets (the database URL with its password, webhook URLs and headers) need not sit in kakuri.toml: each
key of SECRET_KEYS may be given as `key_file = "/run/secrets/x"` (the file's text, without the final
newline) or `key_env = "VARIABLE"` (an environment variable), e.g. `[store] url_env = "KAKURI_DB_URL"` or
`headers = { Authorization_file = "/etc/kakuri/edr-token" }` in a [[respond.isolation]]. (Only those
keys: elsewhere `*_file` keys such as `ca_file` are paths their section reads itself.) The data folder and kakuri.toml are
created private (0700/0600); `permission_warnings` names whatever others can read.
"""

from __future__ import annotations

import fnmatch
import os
import re
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from kakuri.decide.policy import PolicyConfig, load_policy
from kakuri.unpack.limits import UnpackLimits

DEFAULT_HOME = Path("kakuri-data")
CONFIG_NAME = "kakuri.toml"
POLICY_NAME = "policy.toml"


class OrgConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = ""
    our_domains: list[str] = Field(default_factory=list)  # ours and our group companies'
    internal_networks: list[str] = Field(default_factory=lambda: ["127.0.0.0/8", "::1/128"])
    trusted_authserv_ids: list[str] = Field(default_factory=list)  # trust their Authentication-Results


class Settings(BaseModel):
    model_config = ConfigDict(extra="allow")  # sections of later stages are validated by their owners

    home: Path = DEFAULT_HOME
    org: OrgConfig = Field(default_factory=OrgConfig)
    unpack: UnpackLimits = Field(default_factory=UnpackLimits)
    detectors: dict[str, dict[str, Any]] = Field(default_factory=dict)  # per-detector options
    policy: PolicyConfig = Field(default_factory=PolicyConfig)

    def path(self, *parts: str) -> Path:
        return self.home.joinpath(*parts)

    def section(self, name: str) -> dict[str, Any]:
        """A raw section for a stage that validates it with its own model."""
        value = getattr(self, name, None)
        if value is None and self.model_extra:
            value = self.model_extra.get(name)
        return value or {}


class SettingsError(Exception):
    """The configuration cannot be used; the message says which file and key, and what to do."""


def resolve_home(home: Path | str | None = None) -> Path:
    if home:
        return Path(home)
    env = os.environ.get("KAKURI_HOME")
    return Path(env) if env else DEFAULT_HOME


def load_settings(home: Path | str | None = None) -> Settings:
    home_path = resolve_home(home)
    config_file = home_path / CONFIG_NAME
    data: dict[str, Any] = {}
    if config_file.exists():
        try:
            data = tomllib.loads(config_file.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"{config_file}: {exc}. Fix the syntax (or move the file away) and retry.") from exc
        except (OSError, UnicodeDecodeError) as exc:
            raise SettingsError(f"{config_file}: cannot read it ({exc}); check its owner and mode, or its encoding (UTF-8).") from exc
        data = _resolve_secrets(data, config_file, where="")
    try:
        policy = load_policy(home_path / POLICY_NAME)
        settings = Settings.model_validate({**data, "home": home_path, "policy": policy})
    except (ValidationError, ValueError) as exc:
        raise SettingsError(f"{config_file} or {home_path / POLICY_NAME}: {exc}") from exc
    _check_sections(settings, config_file)
    return settings


SECRET_KEYS = ("store.url", "respond.isolation[].url", "respond.isolation[].headers.*")


def _is_secret_key(name: str) -> bool:
    return any(fnmatch.fnmatchcase(re.sub(r"\[\d+\]", "[]", name), pattern) for pattern in SECRET_KEYS)


def _resolve_secrets(value: Any, config_file: Path, *, where: str) -> Any:
    """Replace `key_file` / `key_env` entries of SECRET_KEYS by `key` with the file's or the variable's value."""
    if isinstance(value, list):
        return [_resolve_secrets(v, config_file, where=f"{where}[{i}]") for i, v in enumerate(value)]
    if not isinstance(value, dict):
        return value
    out: dict[str, Any] = {}
    for key, item in value.items():
        name = f"{where}.{key}" if where else key
        base, _, source = key.rpartition("_")
        if source in ("file", "env") and base and isinstance(item, str) and _is_secret_key(f"{where}.{base}" if where else base):
            if base in value or base in out:
                raise SettingsError(f"{config_file}: {name} and {base} both given; keep one")
            out[base] = _read_secret(source, item, name, config_file)
        else:
            out[key] = _resolve_secrets(item, config_file, where=name)
    return out


def _read_secret(source: str, where: str, name: str, config_file: Path) -> str:
    if source == "env":
        if where not in os.environ:
            raise SettingsError(f"{config_file}: {name} names the environment variable {where}, which is not set; export it or remove the key")
        return os.environ[where]
    path = Path(where).expanduser()
    try:
        return path.read_text(encoding="utf-8").rstrip("\r\n")
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsError(f"{config_file}: {name} = {where!r} cannot be read ({exc.__class__.__name__}: {exc}); fix the path or the file's mode") from exc


PRIVATE_FILES = (CONFIG_NAME, POLICY_NAME, "kakuri.db", "tls/key.pem")
PRIVATE_DIRS = ("",)  # the data folder: what is inside a private folder is out of others' reach


def make_private_dir(path: Path) -> Path:
    """Create a folder only its owner can read (mkdir's mode is filtered by the umask, chmod is not)."""
    if not path.exists():
        path.mkdir(parents=True, mode=0o700)
        path.chmod(0o700)
    return path


def write_private(path: Path, text: str) -> None:
    """Write a new file readable by its owner only, never briefly world-readable."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)


def permission_warnings(home: Path) -> list[str]:
    """One line per part of the data folder that others than its owner may read, with the fix."""
    lines = []
    for name, want in [*((n, 0o700) for n in PRIVATE_DIRS), *((n, 0o600) for n in PRIVATE_FILES)]:
        path = home / name if name else home
        try:
            mode = path.stat().st_mode & 0o777
        except OSError:
            continue
        if mode & 0o077:
            lines.append(f"{path} is readable by others (mode {mode:o}): it holds secrets or mail; run chmod {want:o} {path}")
    return lines


def _check_sections(settings: Settings, config_file: Path) -> None:
    """Sections read only in an emergency are checked now, so a typo shows at start-up, not mid-outbreak."""
    from kakuri.receive.config import DeliveryConfig, SmtpConfig, SpoolConfig
    from kakuri.respond.isolation import IsolationError, check_actions
    from kakuri.store.config import StoreConfig
    from kakuri.web.config import WebConfig

    respond = settings.section("respond")
    try:
        if not isinstance(respond, dict):
            raise IsolationError("[respond] must be a table")
        check_actions(respond.get("isolation", []))
    except IsolationError as exc:
        raise SettingsError(f"{config_file}: {exc}. Fix it and retry.") from exc
    models = {"store": StoreConfig, "web": WebConfig, "smtp": SmtpConfig, "delivery": DeliveryConfig, "spool": SpoolConfig}
    for section, model in models.items():
        try:
            model.model_validate(settings.section(section))
        except ValidationError as exc:
            raise SettingsError(f"{config_file}: {describe_invalid(exc, section)}. Fix it and retry.") from exc


def describe_invalid(exc: ValidationError, section: str) -> str:
    """A pydantic error as one line: `[store] url: url scheme 'postgres' is not supported ...`."""
    parts = []
    for error in exc.errors():
        key = ".".join(str(p) for p in error["loc"])
        secret = any(word in key for word in ("url", "password", "secret", "token", "auth", "header"))
        got = "" if secret or isinstance(error.get("input"), dict) else f" (got {error.get('input')!r})"
        parts.append(f"{key}: {error['msg'].removeprefix('Value error, ')}{got}"[:400])
    return f"[{section}] " + "; ".join(parts)
