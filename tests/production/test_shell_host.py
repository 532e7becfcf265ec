"""`rasa shell` as scripts/run.sh and the README start it serves its REST channel on loopback only.

`rasa shell` runs a server with the REST channel (whose caller chooses the sender id) on 0.0.0.0:5005
unless given --interface. Each documented command line is run as written (with a free port added) and
must listen on 127.0.0.1 only.
"""
from __future__ import annotations

import os
import re
import shlex
import subprocess
import time
from pathlib import Path

import pytest

from tests.harness import MODEL, ROOT, VENV_BIN, free_port
from tests.production.test_exposure import _listening_addresses

DOCUMENTED = [ROOT / "README.md", ROOT / "scripts" / "run.sh"]
SHELL = re.compile(r"rasa shell((?:\s+--?[a-z-]+(?:\s+(?!-)[^\s`]+)?)*)")


def commands() -> list[tuple[str, list[str]]]:
    """Return (where, the options) of every `rasa shell --conversation-id <number>` command documented."""
    found = []
    for path in DOCUMENTED:
        text = path.read_text().replace("`rasa shell\n", "`rasa shell ")  # a command wrapped in the README
        for number, line in enumerate(text.splitlines(), 1):
            for match in SHELL.finditer(line):
                options = shlex.split(match.group(1).replace('"${NUMBER:-919800000001}"', "919800000001"))
                if "--conversation-id" in options[:-1]:  # a whole command, not prose naming the option
                    found.append((f"{path.name}:{number}", options))
    return found


def test_the_documents_show_rasa_shell():
    """The README and run.sh each show a `rasa shell` command (so the test below is not empty)."""
    assert {where.split(":")[0] for where, _ in commands()} == {p.name for p in DOCUMENTED}


@pytest.mark.parametrize(("where", "options"), commands(), ids=[w for w, _ in commands()])
def test_a_documented_rasa_shell_listens_on_loopback_only(where, options, tmp_path: Path):
    """Started as written, the shell's server listens on 127.0.0.1 and on no other address."""
    if "--model" not in options:
        options = [*options, "--model", str(MODEL)]
    port = free_port()
    env = {**os.environ, "RASA_TELEMETRY_ENABLED": "false", "PYTHONPATH": str(ROOT),
           "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    with open(tmp_path / "shell.log", "wb") as log:
        proc = subprocess.Popen(["rasa", "shell", *options, "--port", str(port)], cwd=ROOT, env=env,
                                stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 180
        while not _listening_addresses(port) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.5)
        listening = _listening_addresses(port)
        assert listening and listening <= {"0100007F"}, (where, listening, (tmp_path / "shell.log").read_text()[-500:])
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
