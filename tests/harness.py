"""Start the real assistant (action server + `rasa run`) on loopback for end-to-end tests."""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Mapping, Optional

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
MODEL = ROOT / "models" / "assistant.tar.gz"


def free_port() -> int:
    """Return a free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_http(url: str, timeout: float = 120.0, proc: Optional[subprocess.Popen] = None) -> None:
    """Wait until url answers with any HTTP status, or fail with the process's fate."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process for {url} exited with {proc.returncode}")
        try:
            urllib.request.urlopen(url, timeout=2).close()
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"{url} did not come up in {timeout:.0f}s")


@dataclass
class Service:
    """A subprocess with its log file."""

    proc: subprocess.Popen
    log: Path

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> None:
        """Stop the process (SIGKILL if it does not go)."""
        if self.proc.poll() is not None:
            return
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout)


def start(cmd: list[str], env: Mapping[str, str], log: Path) -> Service:
    """Start a command from the project root with its output in log."""
    handle = open(log, "ab")
    proc = subprocess.Popen(cmd, cwd=ROOT, env=dict(env), stdout=handle, stderr=subprocess.STDOUT)
    return Service(proc, log)


def base_env(db_url: str, extra: Optional[Mapping[str, str]] = None) -> dict[str, str]:
    """Environment for every process of the stack: loopback, no telemetry, the test database."""
    env = dict(os.environ)
    env.update(
        DATABASE_URL=db_url,
        SANIC_HOST="127.0.0.1",
        RASA_TELEMETRY_ENABLED="false",
        PATH=f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
        PYTHONPATH=str(ROOT),
    )
    env.update(extra or {})
    return env


def prepare_database(db_url: str, log: Path) -> None:
    """Migrate and seed a fresh database with the demo data."""
    env = base_env(db_url)
    with open(log, "ab") as out:
        for cmd in (["alembic", "upgrade", "head"], [sys.executable, "-m", "database.seed"]):
            subprocess.run(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, check=True)


@dataclass
class Stack:
    """The running assistant: its URLs, database and services."""

    rasa_url: str
    actions_url: str
    db_url: str
    workdir: Path
    env: dict
    services: dict = field(default_factory=dict)

    def stop(self) -> None:
        """Stop every service, Rasa first."""
        for name in ("rasa", "actions"):
            if name in self.services:
                self.services[name].stop()


def start_rasa(stack: Stack, credentials: Path, port: Optional[int] = None) -> Service:
    """Start `rasa run` for the stack (again, e.g. after a kill) and wait until it serves."""
    port = port or int(stack.rasa_url.rsplit(":", 1)[1])
    cmd = [
        "rasa", "run", "--model", str(MODEL), "--endpoints", str(stack.workdir / "endpoints.yml"),
        "--credentials", str(credentials), "--interface", "127.0.0.1", "--port", str(port),
    ]
    service = start(cmd, stack.env, stack.workdir / "rasa.log")
    wait_http(f"http://127.0.0.1:{port}/", proc=service.proc, timeout=180)
    stack.services["rasa"] = service
    return service


def serve_rasa(env: Mapping[str, str], endpoints: Path, credentials: Path, port: int, log: Path,
               timeout: float = 180.0) -> Service:
    """Start one `rasa run` (no HTTP API) on 127.0.0.1:port and wait until it serves."""
    cmd = [
        "rasa", "run", "--model", str(MODEL), "--endpoints", str(endpoints),
        "--credentials", str(credentials), "--interface", "127.0.0.1", "--port", str(port),
    ]
    service = start(cmd, env, log)
    try:
        wait_http(f"http://127.0.0.1:{port}/", proc=service.proc, timeout=timeout)
    except BaseException:
        service.stop()
        raise
    return service


@contextmanager
def running_stack(
    workdir: Path, credentials: Optional[Path] = None, extra_env: Optional[Mapping[str, str]] = None
) -> Iterator[Stack]:
    """Run a migrated, seeded database, the action server and Rasa; stop them afterwards."""
    if not MODEL.exists():
        raise RuntimeError(f"{MODEL} is missing: run `rasa train --fixed-model-name assistant` first")
    workdir.mkdir(parents=True, exist_ok=True)
    db_url = f"sqlite:///{workdir / 'assistant.db'}"
    prepare_database(db_url, workdir / "setup.log")
    action_port, rasa_port = free_port(), free_port()
    (workdir / "endpoints.yml").write_text(
        f'action_endpoint:\n  url: "http://127.0.0.1:{action_port}/webhook"\n'
        f"tracker_store:\n  type: connectors.tracker_store.PooledSQLTrackerStore\n  dialect: sqlite\n  db: {workdir / 'tracker.db'}\n"
    )
    stack = Stack(
        rasa_url=f"http://127.0.0.1:{rasa_port}",
        actions_url=f"http://127.0.0.1:{action_port}",
        db_url=db_url,
        workdir=workdir,
        env=base_env(db_url, extra_env),
    )
    try:
        actions = start(
            ["python", "-m", "rasa_sdk", "--actions", "actions", "--port", str(action_port)],
            stack.env,
            workdir / "actions.log",
        )
        stack.services["actions"] = actions
        wait_http(f"{stack.actions_url}/health", proc=actions.proc)
        if credentials is None:
            # REST only: the WhatsApp channel needs its own settings (see its tests).
            credentials = workdir / "credentials.yml"
            credentials.write_text("rest:\n")
        start_rasa(stack, credentials, rasa_port)
        yield stack
    finally:
        stack.stop()


def keep_logs(workdir: Path, dest: Path) -> None:
    """Copy service logs somewhere a failing CI run can show them."""
    dest.mkdir(parents=True, exist_ok=True)
    for log in workdir.glob("*.log"):
        shutil.copy(log, dest / log.name)
