from __future__ import annotations

from pathlib import Path

import pytest

from kakuri.settings import Settings, load_settings

SHARED = Path(__file__).resolve().parents[2] / "shared"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings with a fresh, empty data folder and the stock policy."""
    return load_settings(tmp_path / "kakuri-data")


@pytest.fixture
def shared_dir() -> Path:
    if not (SHARED / "corpus").exists():
        pytest.skip("../shared is not beside this checkout")
    return SHARED
