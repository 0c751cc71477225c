"""New scanning rules reaching a running gateway: `kakuri rules reload` validates, then sends SIGHUP.

The scanning rules are what `rule_version()` digests: YARA rules (`<home>/rules/yara`), policy.toml,
[detectors] options and kakuri's own version. On SIGHUP the gateway compares the digest with the one it
scans with; when it changed it compiles the new rules in a thread (a rule file that does not compile
leaves the running rules in force and is reported), then replaces its scan pool (scans already under way
finish with the old rules) and starts a background retro-scan of the retained window.
The outcome goes to `<home>/run/rules.json` (rule version in force, when checked, last error), which the
CLI waits for.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Callable

from kakuri.settings import Settings, SettingsError, make_private_dir

log = logging.getLogger("kakuri.reload")

RULES_STATE = "run/rules.json"


@dataclass
class RulesState:
    rule_version: str  # in force in the gateway
    checked_at: str  # the last reload that looked at the rules
    error: str = ""  # why the last new rules were refused ("" = in force)


def validate_rules(settings: Settings) -> None:
    """Build a scanner from these settings: YARA rules compiled, policy and detector options read.

    Raises SettingsError naming the file at fault (what a gateway start would stop on)."""
    from kakuri.wiring import build_scanner

    try:
        build_scanner(settings)
    except SettingsError:
        raise
    except Exception as exc:  # a detector refusing its options, a policy expression that does not parse
        raise SettingsError(f"{type(exc).__name__}: {exc}") from exc


def write_rules_state(home: Path, state: RulesState) -> None:
    path = make_private_dir(Path(home) / "run") / "rules.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(state)), encoding="utf-8")
    tmp.replace(path)


def read_rules_state(home: Path) -> RulesState | None:
    try:
        return RulesState(**json.loads((Path(home) / RULES_STATE).read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None


def rules_listener(gateway) -> Callable[[Settings], None]:
    """The ConfigReloader listener that applies new scanning rules to `gateway` (see the module docstring)."""

    def apply(settings: Settings) -> None:
        asyncio.get_running_loop().create_task(apply_rules(gateway, settings))

    return apply


async def apply_rules(gateway, settings: Settings) -> RulesState:
    from kakuri.receive.ppap import with_ppap_policy
    from kakuri.respond.retroscan import rule_version

    home = Path(settings.home)
    version = await asyncio.to_thread(rule_version, settings)
    if version == gateway.rule_version:
        state = RulesState(version, _now())
    else:
        try:
            await asyncio.to_thread(validate_rules, settings)
        except SettingsError as exc:
            log.error("new scanning rules refused, rule version %s stays in force: %s", gateway.rule_version[:12], exc)
            state = RulesState(gateway.rule_version, _now(), error=str(exc))
            write_rules_state(home, state)
            return state
        gateway.scans.reload(with_ppap_policy(settings))
        await gateway.scans.warm_up()
        log.warning("scanning rules %s in force (were %s)", version[:12], gateway.rule_version[:12])
        gateway.rule_version = version
        if gateway.queue.retention is not None:
            gateway.queue.retention.rule_version = version
        state = RulesState(version, _now())
        if gateway.retro is not None:
            gateway.retro.check(settings, why="rules reload")
    write_rules_state(home, state)
    return state


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")
