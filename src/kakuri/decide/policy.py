"""Policy as typed configuration: symbol scores, group caps, composites, thresholds, overrides.

Stock policy ships in `kakuri/policy/*.toml` (one file per detector family, like rspamd's scores.d);
an operator's `policy.toml` in the data folder is merged over it and never has to copy it.
"""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from kakuri.decide.expressions import compile_expression
from kakuri.model import Action, Direction


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Thresholds(_Strict):
    tag: float | None = 5.0
    quarantine: float | None = 10.0
    reject: float | None = None  # None: never reject on score alone


class SymbolPolicy(_Strict):
    score: float
    description: str | None = None  # optional operator note; the detector's SymbolSpec is the reference


class GroupPolicy(_Strict):
    max_score: float | None = None


class Composite(_Strict):
    name: str
    when: str
    score: float = 0.0
    # "remove_weight": the parts' scores no longer count once the composite fires
    policy: Literal["leave", "remove_weight"] = "leave"

    @field_validator("when")
    @classmethod
    def _compiles(cls, value: str) -> str:
        compile_expression(value)
        return value


class Override(_Strict):
    """A forced action when its expression matches; it only ever escalates (emergency modes add these)."""

    name: str
    when: str
    action: Action
    directions: list[Direction] | None = None  # None: every direction
    senders: list[str] | None = None  # envelope senders or From addresses (lower case); None: anyone
    client_ips: list[str] | None = None  # connecting hosts; None: any

    def applies_to(self, direction: Direction, sender: str, from_addr: str, client_ip: str | None) -> bool:
        if self.directions and direction not in self.directions:
            return False
        if self.senders is not None and not ({sender, from_addr} & set(self.senders)):
            return False
        return self.client_ips is None or client_ip in self.client_ips

    @field_validator("when")
    @classmethod
    def _compiles(cls, value: str) -> str:
        compile_expression(value)
        return value


class PolicyConfig(_Strict):
    thresholds: dict[Direction, Thresholds] = Field(
        default_factory=lambda: {d: Thresholds() for d in Direction}
    )
    symbols: dict[str, SymbolPolicy] = Field(default_factory=dict)
    groups: dict[str, GroupPolicy] = Field(default_factory=dict)
    composites: list[Composite] = Field(default_factory=list)
    overrides: list[Override] = Field(default_factory=list)

    def score_of(self, symbol: str) -> float:
        entry = self.symbols.get(symbol)
        return entry.score if entry else 0.0


def load_policy(operator_file: Path | None = None) -> PolicyConfig:
    """Stock policy merged with the operator's file (tables merge key by key, lists append)."""
    merged: dict = {}
    stock = resources.files("kakuri.policy")
    for entry in sorted(stock.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".toml"):
            _merge(merged, tomllib.loads(entry.read_text(encoding="utf-8")))
    if operator_file is not None and operator_file.exists():
        try:
            _merge(merged, tomllib.loads(operator_file.read_text(encoding="utf-8")))
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"{operator_file}: {exc}; fix the TOML syntax and try again") from exc
    return PolicyConfig.model_validate(merged)


def _merge(into: dict, new: dict) -> None:
    for key, value in new.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        elif isinstance(value, list) and isinstance(into.get(key), list):
            into[key] = into[key] + value
        else:
            into[key] = value
