"""What the operator sees when the environment is wrong: one line saying what and what to do, exit 2.

The database being down, a URL kakuri cannot use or a bad value in kakuri.toml are not bugs; a
traceback would hide the one line that matters (and may quote a URL with its password).
"""

from __future__ import annotations

from typing import Any

import typer
from pydantic import ValidationError
from sqlalchemy import exc as sa_exc
from typer.core import TyperGroup

from kakuri.cli.output import fail


class ClearErrors(TyperGroup):
    """The root command group: known environment errors of any subcommand become one line."""

    def invoke(self, ctx: typer.Context) -> Any:
        from kakuri.settings import SettingsError, describe_invalid
        from kakuri.store.config import StoreError

        try:
            return super().invoke(ctx)
        except (StoreError, SettingsError) as exc:
            raise fail(exc, 2) from exc
        except (sa_exc.OperationalError, sa_exc.InterfaceError) as exc:
            reason = str(exc.orig or exc).strip().splitlines()[0] if str(exc.orig or exc).strip() else type(exc).__name__
            raise fail(f"database error: {reason}. Check that the database server runs and [store] url in kakuri.toml", 2) from exc
        except ValidationError as exc:
            raise fail(f"invalid configuration: {describe_invalid(exc, exc.title)}. Fix kakuri.toml and retry", 2) from exc
        except PermissionError as exc:
            raise fail(f"{exc}. Run kakuri as the user that owns the data folder, or fix its mode", 2) from exc
