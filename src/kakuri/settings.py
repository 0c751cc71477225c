"""Root settings: the data folder's `kakuri.toml` plus KAKURI_* environment. The only place config is read.

Each stage owns the model of its own section (`unpack.limits.UnpackLimits`, ...); this module composes
them and validates everything once at start-up, with errors that name the file and key.
"""

from __future__ import annotations

import os
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
    try:
        policy = load_policy(home_path / POLICY_NAME)
        settings = Settings.model_validate({**data, "home": home_path, "policy": policy})
    except (ValidationError, ValueError) as exc:
        raise SettingsError(f"{config_file} or {home_path / POLICY_NAME}: {exc}") from exc
    _check_sections(settings, config_file)
    return settings


def _check_sections(settings: Settings, config_file: Path) -> None:
    """Sections read only in an emergency are checked now, so a typo shows at start-up, not mid-outbreak."""
    from kakuri.respond.isolation import IsolationError, check_actions

    respond = settings.section("respond")
    try:
        if not isinstance(respond, dict):
            raise IsolationError("[respond] must be a table")
        check_actions(respond.get("isolation", []))
    except IsolationError as exc:
        raise SettingsError(f"{config_file}: {exc}. Fix it and retry.") from exc
