"""`kakuri scan PATH...` and `kakuri eval CORPUS` (placeholder, filled below)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    pass
