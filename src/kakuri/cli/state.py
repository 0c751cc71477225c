"""What the root callback parsed, for the command modules (Typer has no cleaner way to share it)."""

from __future__ import annotations

from pathlib import Path

import typer

HOME: Path | None = None


def settings():
    from kakuri.settings import SettingsError, load_settings

    try:
        return load_settings(HOME)
    except SettingsError as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        raise typer.Exit(2) from exc
