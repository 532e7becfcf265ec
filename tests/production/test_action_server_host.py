"""Every documented way of starting the action server keeps it on loopback, even without SANIC_HOST exported.

rasa_sdk listens on 0.0.0.0 unless SANIC_HOST says otherwise, and it trusts whatever sender id it is
sent. Each command line that starts it in scripts/ and the README is run as written (its own variable
assignments included) from an environment without SANIC_HOST, and must listen on 127.0.0.1 only.
"""
from __future__ import annotations

import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest

from tests.harness import ROOT, VENV_BIN, free_port, wait_http
from tests.production.test_exposure import _listening_addresses

DOCUMENTED = [ROOT / "README.md", ROOT / "scripts" / "run.sh", ROOT / "scripts" / "run_cluster.sh"]
# Optional VAR=value words, then the interpreter, then rasa_sdk with our actions.
START = re.compile(r"((?:[A-Z_]+=\S+\s+)*)(\S*python)\s+-m\s+rasa_sdk\s+--actions\s+actions")


def commands() -> list[tuple[str, str]]:
    """Return (where, the command's variable assignments) for every action server start documented."""
    found = []
    for path in DOCUMENTED:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            for match in START.finditer(line):
                found.append((f"{path.name}:{number}", match.group(1)))
    return found


def test_the_documents_start_the_action_server_somewhere():
    """The README and both run scripts each show how the action server starts (so the test below is not empty)."""
    assert {where.split(":")[0] for where, _ in commands()} == {p.name for p in DOCUMENTED}


@pytest.mark.parametrize(("where", "assignments"), commands(), ids=[w for w, _ in commands()])
def test_a_documented_start_listens_on_loopback_only(where, assignments, tmp_path: Path):
    """Started as written, the action server is reachable on 127.0.0.1 and on no other address."""
    env = {k: v for k, v in os.environ.items() if k != "SANIC_HOST"}
    env.update(PYTHONPATH=str(ROOT), PATH=f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}")
    env.update(word.split("=", 1) for word in shlex.split(assignments))
    port = free_port()
    with open(tmp_path / "actions.log", "wb") as log:
        proc = subprocess.Popen(["python", "-m", "rasa_sdk", "--actions", "actions", "--port", str(port)],
                                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_http(f"http://127.0.0.1:{port}/health", proc=proc, timeout=120)
        listening = _listening_addresses(port)
        assert listening and listening <= {"0100007F"}, (where, listening)  # 127.0.0.1 only
    finally:
        proc.terminate()
        proc.wait(20)
