"""Run the `atelier` command in a subprocess, as a shop engineer would (errors go through ``main``)."""

from __future__ import annotations

import os
import subprocess
import sys


def atelier(*args: str, cwd=None, env_extra: dict | None = None) -> subprocess.CompletedProcess:
    env = (
        os.environ
        | {"ATELIER_SAMPLE__PRODUCTS": "40", "ATELIER_SAMPLE__USERS": "60", "ATELIER_SAMPLE__EVENTS": "3000"}
        | (env_extra or {})
    )
    return subprocess.run(
        [sys.executable, "-m", "atelier.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=300,
    )
