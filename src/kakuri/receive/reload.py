"""Configuration changes reaching a running gateway: SIGHUP, or `kakuri reload`, which sends it.

The gateway writes its process id to `<data>/run/kakuri.pid` and the configuration generation in force
to `<data>/run/config.json` (generation, when loaded, a digest of kakuri.toml and policy.toml, the last
reload error). A reload validates the files like a start does; a bad file leaves the running
configuration as it was and records why. What is re-read: [respond] (isolation actions, warnings), the
console's [web] options, which are read per request, and the relay rules ([org] our_domains, also those
recorded by `kakuri init --domain`, and internal_networks). Listeners, the store and the scanning policy
(policy.toml, [detectors], [unpack]) are built once at start: those need a restart, and the console
says when the files on disk differ from the generation in force.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import signal
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Callable

from kakuri.settings import CONFIG_NAME, POLICY_NAME, Settings, SettingsError, load_settings, make_private_dir

log = logging.getLogger("kakuri.reload")

PID_FILE = "run/kakuri.pid"
STATE_FILE = "run/config.json"


@dataclass
class ConfigGeneration:
    generation: int
    loaded_at: str  # ISO 8601, UTC
    digest: str  # of kakuri.toml + policy.toml as loaded
    error: str = ""  # why the last reload was refused ("" = it was applied)
    checked_at: str = ""  # the last reload attempt, applied or refused

    def is_stale(self, home: Path) -> bool:
        return config_digest(home) != self.digest


def config_digest(home: Path) -> str:
    digest = hashlib.sha256()
    for name in (CONFIG_NAME, POLICY_NAME):
        try:
            digest.update((home / name).read_bytes())
        except OSError:
            digest.update(b"-")
    return digest.hexdigest()[:16]


class ConfigReloader:
    """Holds the settings in force; `reload()` (the SIGHUP handler) re-reads and hands them to listeners."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.home = Path(settings.home)
        self.state = ConfigGeneration(1, _now(), config_digest(self.home), checked_at=_now())
        self._listeners: list[Callable[[Settings], None]] = []
        self._write_state()

    def on_reload(self, listener: Callable[[Settings], None]) -> None:
        self._listeners.append(listener)

    def reload(self) -> ConfigGeneration:
        try:
            settings = load_settings(self.home)
        except SettingsError as exc:
            log.error("configuration not reloaded, generation %d stays in force: %s", self.state.generation, exc)
            self.state.error, self.state.checked_at = str(exc), _now()
            self._write_state()
            return self.state
        for listener in self._listeners:
            listener(settings)
        self.settings = settings
        self.state = ConfigGeneration(self.state.generation + 1, _now(), config_digest(self.home), checked_at=_now())
        log.warning("configuration generation %d in force", self.state.generation)
        self._write_state()
        return self.state

    def _write_state(self) -> None:
        path = make_private_dir(self.home / "run") / "config.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self.state)), encoding="utf-8")
        tmp.replace(path)


def relay_rules_listener(gateway) -> Callable[[Settings], None]:
    """Apply [org] of a reloaded configuration to the running gateway's relay and direction rules."""

    def apply(settings: Settings) -> None:
        from sqlalchemy import select

        from kakuri.store.knowledge_tables import KnownDomain

        with gateway.stores.sessions() as session:
            recorded = session.scalars(select(KnownDomain.domain).where(KnownDomain.kind == "ours")).all()
        gateway.rules.update(our_domains=sorted({*settings.org.our_domains, *recorded}),
                             internal_networks=settings.org.internal_networks)

    return apply


def write_pid(home: Path) -> Path:
    path = make_private_dir(home / "run") / "kakuri.pid"
    path.write_text(f"{os.getpid()}\n", encoding="utf-8")
    return path


def remove_pid(home: Path) -> None:
    path = home / PID_FILE
    try:
        if path.read_text(encoding="utf-8").strip() == str(os.getpid()):
            path.unlink()
    except OSError:
        pass


def read_generation(home: Path) -> ConfigGeneration | None:
    try:
        return ConfigGeneration(**json.loads((home / STATE_FILE).read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None


class ReloadError(Exception):
    """No running gateway to reload, or it did not answer; the message says what to do."""


def request_reload(home: Path, *, timeout_seconds: float = 10.0) -> ConfigGeneration:
    """Send SIGHUP to the gateway of `home` and wait until it reports the reload's outcome."""
    try:
        pid = int((home / PID_FILE).read_text(encoding="utf-8").strip())
    except (OSError, ValueError):
        raise ReloadError(f"no running gateway for {home} ({home / PID_FILE} missing): start `kakuri serve`; "
                          "a new start reads the configuration anyway") from None
    before = read_generation(home)
    try:
        os.kill(pid, signal.SIGHUP)
    except ProcessLookupError:
        raise ReloadError(f"the gateway of {home} (pid {pid}) is not running: start `kakuri serve`") from None
    except PermissionError:
        raise ReloadError(f"not allowed to signal pid {pid}: run `kakuri reload` as the gateway's user") from None
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        now = read_generation(home)
        if now is not None and (before is None or now.checked_at != before.checked_at or now.generation != before.generation):
            return now
        time.sleep(0.05)
    raise ReloadError(f"the gateway (pid {pid}) did not confirm the reload within {timeout_seconds:g} s; see its log")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")
