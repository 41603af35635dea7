"""docs/operations.md covers what ops needs and refers only to things that exist."""

from __future__ import annotations

import re

from tests.deploy.conftest import ROOT

DOC = ROOT / "docs" / "operations.md"


def test_required_sections() -> None:
    text = DOC.read_text()
    headings = {h.strip().lower() for h in re.findall(r"^#+\s+(.*)$", text, re.M)}
    for needed in (
        "sizing",
        "backup and restore",
        "upgrade with zero downtime",
        "rotating secrets",
        "metrics",
        "the dead-letter queue",
        "kubernetes: from an empty cluster",
        "one machine: docker compose",
    ):
        assert needed in headings, f"missing section: {needed}"
    # The place the media engineer fills with the benchmark numbers.
    assert "<!-- MEDIA-BENCHMARK" in text and "<!-- /MEDIA-BENCHMARK -->" in text


def test_referenced_files_exist() -> None:
    text = DOC.read_text()
    for path in set(
        re.findall(
            r"`((?:deploy|docs|scripts)/[\w./-]+|Dockerfile|docker-compose\.yml|\.env\.example)`",
            text,
        )
    ):
        assert (ROOT / path).exists(), path


def test_loa_commands_exist() -> None:
    """Every `loa <command>` the guide tells ops to run is a real subcommand of loa/cli.py."""
    text = DOC.read_text()
    code = "\n".join(re.findall(r"```sh\n(.*?)```", text, re.S) + re.findall(r"`([^`\n]+)`", text))
    used = set(re.findall(r"(?:^|-- |compose exec \w+ )loa (\w+)", code, re.M))
    assert used, "the guide shows no loa command"
    known = {"start", "serve", "migrate", "relay", "events", "search", "keys", "config"}
    assert used <= known, f"not loa commands: {used - known}"
    source = (ROOT / "loa" / "cli.py").read_text()
    for command in used:
        assert f'"{command}"' in source, command
    for action in re.findall(r"loa events dlq (\w+)", code):
        assert action in ("list", "replay"), action
