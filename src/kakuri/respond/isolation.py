"""Pluggable isolation of an incident host: a webhook (JSON POST) or a configured command.

kakuri does not isolate PCs itself; it calls what the company already has (NAC, EDR, firewall API).
Every call, and every dry run, lands on the incident timeline with its result.
"""

from __future__ import annotations

import json
import subprocess
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy.orm import Session

from kakuri.respond.incidents import add_event, get_incident


class IsolationAction(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    kind: Literal["webhook", "command"]
    url: str = ""  # webhook: receives {"action": "isolate", "host": ..., "incident": ..., "reason": ...}
    headers: dict[str, str] = Field(default_factory=dict)
    argv: list[str] = Field(default_factory=list)  # command: "{host}", "{incident}" and "{reason}" are substituted
    timeout_seconds: float = 30.0

    @model_validator(mode="after")
    def _complete(self) -> IsolationAction:
        if self.kind == "webhook" and not self.url.startswith(("http://", "https://")):
            raise ValueError(f"isolation action {self.name!r}: a webhook needs url = 'http(s)://...'")
        if self.kind == "command" and not self.argv:
            raise ValueError(f"isolation action {self.name!r}: a command needs argv = ['/path/to/tool', '{{host}}']")
        return self


@dataclass(frozen=True)
class IsolationResult:
    action: str
    host: str
    ok: bool
    dry_run: bool
    detail: str


def isolate_host(
    session: Session,
    incident_id: int,
    host: str,
    actions: list[IsolationAction],
    *,
    actor: str,
    reason: str = "",
    dry_run: bool = False,
) -> list[IsolationResult]:
    get_incident(session, incident_id)
    if not actions:
        raise ValueError("no isolation action is configured: add [[respond.isolation]] entries to kakuri.toml")
    results = []
    for action in actions:
        result = _run(action, host, incident_id, reason, dry_run)
        results.append(result)
        state = "dry run" if dry_run else ("ok" if result.ok else "FAILED")
        add_event(
            session, incident_id, actor=actor, kind="isolation",
            text=f"isolate {host} via {action.name} ({action.kind}): {state}",
            detail={"action": action.name, "host": host, "ok": result.ok, "dry_run": dry_run, "detail": result.detail[:1000]},
        )
    return results


def _run(action: IsolationAction, host: str, incident_id: int, reason: str, dry_run: bool) -> IsolationResult:
    if action.kind == "webhook":
        payload = {"action": "isolate", "host": host, "incident": incident_id, "reason": reason}
        if dry_run:
            return IsolationResult(action.name, host, True, True, f"POST {action.url} {json.dumps(payload)}")
        return _post(action, host, payload)
    argv = [a.format(host=host, incident=incident_id, reason=reason) for a in action.argv]
    if dry_run:
        return IsolationResult(action.name, host, True, True, "would run: " + " ".join(argv))
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=action.timeout_seconds, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return IsolationResult(action.name, host, False, False, f"{type(exc).__name__}: {exc}")
    output = (done.stdout + done.stderr).strip()
    return IsolationResult(action.name, host, done.returncode == 0, False, f"exit {done.returncode}: {output}"[:1000])


def _post(action: IsolationAction, host: str, payload: dict) -> IsolationResult:
    request = urllib.request.Request(
        action.url,
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json", **action.headers},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=action.timeout_seconds) as response:
            body = response.read(2000).decode("utf-8", "replace")
            return IsolationResult(action.name, host, 200 <= response.status < 300, False, f"HTTP {response.status}: {body}")
    except urllib.error.HTTPError as exc:
        return IsolationResult(action.name, host, False, False, f"HTTP {exc.code}: {exc.reason}")
    except (urllib.error.URLError, OSError) as exc:
        return IsolationResult(action.name, host, False, False, f"{type(exc).__name__}: {exc}")
