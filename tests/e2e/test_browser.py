"""The console in a real browser: runs tests/e2e/browser/console_checks.py in a pytest process of
its own (Playwright's sync API and this suite's eventlet monkey-patching do not mix: see
tests/e2e/browser/conftest.py), against the whole system started by that process."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import ROOT

BROWSER = ROOT / "tests" / "e2e" / "browser"


def test_console_in_chromium() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOA_") or "TEST" in k}
    result = subprocess.run(
        [
            sys.executable, "-m", "pytest", str(BROWSER / "console_checks.py"),
            str(BROWSER / "admin_checks.py"),
            "--confcutdir", str(BROWSER), "-p", "no:nameko", "-p", "no:cacheprovider",
            "-o", "python_files=*_checks.py", "-o", "timeout=240", "-q", "-rA",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )  # fmt: skip
    print(result.stdout[-20000:])
    print(result.stderr[-5000:], file=sys.stderr)
    assert result.returncode == 0, result.stdout[-6000:]
