"""Who is running the command, for audit records."""

from __future__ import annotations

import getpass
import os


def current_actor() -> str:
    user = os.environ.get("SUDO_USER") or getpass.getuser()
    return f"cli:{user}"
