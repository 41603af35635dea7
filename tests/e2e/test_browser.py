"""The console in a real browser: runs tests/e2e/browser/console_checks.py in a pytest process of
its own (Playwright's sync API and this suite's eventlet monkey-patching do not mix: see
tests/e2e/browser/conftest.py), against the whole system started by that process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from tests.conftest import ROOT

BROWSER = ROOT / "tests" / "e2e" / "browser"


@pytest.mark.timeout(1000)  # above the run's own bound, so that bound's clean stop comes first
def test_console_in_chromium() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOA_") or "TEST" in k}
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "pytest", str(BROWSER / "console_checks.py"),
            str(BROWSER / "admin_checks.py"),
            "--confcutdir", str(BROWSER), "-p", "no:nameko", "-p", "no:cacheprovider",
            "-o", "python_files=*_checks.py", "-o", "timeout=240", "-q", "-rA",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        stdout, stderr = proc.communicate(timeout=900)
    except subprocess.TimeoutExpired:
        # Ctrl-C, not a kill: the inner session's fixtures then stop its `loa start` and drop
        # its vhost instead of leaving them to the rest of the run.
        proc.send_signal(signal.SIGINT)
        try:
            stdout, stderr = proc.communicate(timeout=90)
        except subprocess.TimeoutExpired:
            proc.kill()
            stdout, stderr = proc.communicate()
        raise AssertionError(f"the browser checks ran over 900 s:\n{stdout[-6000:]}") from None
    print(stdout[-20000:])
    print(stderr[-5000:], file=sys.stderr)
    assert proc.returncode == 0, stdout[-6000:]
