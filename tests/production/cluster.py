"""A real production cluster for fault tests: N `rasa run` instances behind nginx, one action server.

`running_cluster(services, db_url, workdir, control)` migrates and seeds the business/channel database at
db_url, gives Rasa's tracker store a fresh PostgreSQL schema of rasa_tracker, points nginx
(scripts/services.sh nginx) at the instances, and runs everything on 127.0.0.1 with the production
endpoints and credentials against the Graph API stand-in (a ThreadedGraph). `Cluster` posts signed
deliveries through nginx the way Meta does (retried until a 200), kills and restarts instances, and
plays Meta's status webhooks (`StatusPump`). Logs are kept under var/cluster-faults/<workdir name>.
"""
from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping, Optional

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

from tests.connectors.whatsapp_support import signed
from tests.e2e.whatsapp_fixtures import PHONE_NUMBER_ID, StatusPump, ThreadedGraph
from tests.harness import (MODEL, ROOT, Service, base_env, free_port, keep_logs, prepare_database, serve_rasa,
                           start, wait_http)

SERVICES = ROOT / "scripts" / "services.sh"
CREDENTIALS = ROOT / "deploy" / "credentials.production.yml"
ENDPOINTS = ROOT / "endpoints.production.yml"
WEBHOOK_PATH = "/webhooks/whatsapp/webhook"
LOGS = ROOT / "var" / "cluster-faults"
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def services_command(*args: str, env: Optional[Mapping[str, str]] = None, timeout: float = 120) -> str:
    """Run scripts/services.sh with args; return its output or raise with it."""
    done = subprocess.run(["bash", str(SERVICES), *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env=dict(env) if env is not None else None)
    if done.returncode != 0:
        raise RuntimeError(f"services.sh {' '.join(args)} failed: {done.stdout}\n{done.stderr}")
    return done.stdout


@dataclass
class Instance:
    """One `rasa run` of the cluster."""

    port: int
    log: Path
    env: dict
    service: Optional[Service] = None

    def start(self) -> None:
        """Start (again) and wait until it serves."""
        self.service = serve_rasa(self.env, ENDPOINTS, CREDENTIALS, self.port, self.log)

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Stop it with sig (SIGKILL: no clean-up at all)."""
        if self.service is not None:
            self.service.stop(sig)

    def restart(self, sig: int = signal.SIGKILL) -> None:
        """Kill it (if it still runs) and start it again."""
        self.kill(sig)
        self.start()

    @property
    def alive(self) -> bool:
        """Return True while the process runs."""
        return self.service is not None and self.service.proc.poll() is None


@dataclass
class Cluster:
    """The running cluster: nginx's webhook URL, the instances, the stand-in, the databases."""

    webhook_url: str
    instances: list[Instance]
    actions: Service
    graph: ThreadedGraph
    app_secret: str
    db: Engine  # business and channel tables
    tracker_db: Engine  # Rasa's tracker store (search_path = this cluster's schema)
    workdir: Path
    control: dict = field(default_factory=dict)  # SERVICES_DIR and ports for scripts/services.sh
    pump: Optional[StatusPump] = None

    def services(self, *args: str) -> str:
        """Run scripts/services.sh on this cluster's services (e.g. "restart-postgres", "3")."""
        return services_command(*args, env={**os.environ, **self.control})

    def post(self, raw: bytes, timeout: float = 15.0) -> int:
        """POST one signed body through nginx once; return the HTTP status (0: no answer)."""
        body, headers = signed(raw, self.app_secret)
        request = urllib.request.Request(self.webhook_url, body, headers)
        try:
            with _NO_PROXY.open(request, timeout=timeout) as response:
                response.read()
                return response.status
        except urllib.error.HTTPError as error:
            error.read()
            return error.code
        except OSError:
            return 0

    def deliver(self, raw: bytes, within: float = 120.0, stop: Optional[threading.Event] = None) -> bool:
        """POST as Meta does: again with backoff until a 200, for at most `within` seconds."""
        deadline = time.monotonic() + within
        delay = 0.25
        while True:
            if self.post(raw) == 200:
                return True
            if time.monotonic() + delay > deadline or (stop is not None and stop.is_set()):
                return False
            time.sleep(delay)
            delay = min(delay * 2, 4.0)

    def scalar(self, sql: str, **params: Any) -> Any:
        """Run one query on the business/channel database; return its first value."""
        with self.db.connect() as connection:
            return connection.execute(text(sql), params).scalar()

    def rows(self, sql: str, **params: Any) -> list[Any]:
        """Run one query on the business/channel database; return its rows."""
        with self.db.connect() as connection:
            return list(connection.execute(text(sql), params))

    def user_turns(self) -> dict[str, int]:
        """Return how many times Rasa logged each message_id as a user message (one per turn run)."""
        counts: dict[str, int] = {}
        with self.tracker_db.connect() as connection:
            for (data,) in connection.execute(text("SELECT data FROM events WHERE type_name = 'user'")):
                message_id = json.loads(data).get("message_id")
                if message_id:
                    counts[message_id] = counts.get(message_id, 0) + 1
        return counts


@contextmanager
def running_cluster(services: Mapping[str, str], db_url: str, workdir: Path,
                    control: Optional[Mapping[str, str]] = None, size: int = 2,
                    extra_env: Optional[Mapping[str, str]] = None) -> Iterator[Cluster]:
    """Run the action server and `size` instances behind nginx on a fresh database; stop all afterwards.

    services: the URLs `scripts/services.sh start` printed; control: the SERVICES_DIR and ports it was
    started with (empty: the shared set), passed again to every services.sh call.
    """
    if not MODEL.exists():
        raise RuntimeError(f"{MODEL} is missing: run `rasa train --fixed-model-name assistant` first")
    workdir.mkdir(parents=True, exist_ok=True)
    control = dict(control or {})
    schema = f"faults_{workdir.name.replace('-', '_').lower()}_{secrets.token_hex(3)}"
    tracker_admin = create_engine(services["TRACKER_DB_URL"], future=True, pool_pre_ping=True)
    tracker_db = create_engine(services["TRACKER_DB_URL"], future=True, pool_pre_ping=True,
                               connect_args={"options": f"-csearch_path={schema}"})
    db = create_engine(db_url, future=True, pool_pre_ping=True)
    token, app_secret, verify = (secrets.token_urlsafe(24) for _ in range(3))
    action_port, ports = free_port(), [free_port() for _ in range(size)]
    graph: Optional[ThreadedGraph] = None
    actions: Optional[Service] = None
    cluster: Optional[Cluster] = None
    instances: list[Instance] = []
    try:
        prepare_database(db_url, workdir / "setup.log")
        with tracker_admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        graph = ThreadedGraph(token, PHONE_NUMBER_ID).start()
        services_command("nginx", env={**base_env(db_url), **control, "RASA_PORTS": " ".join(map(str, ports))})
        env = base_env(db_url, {
            "WHATSAPP_PHONE_NUMBER_ID": PHONE_NUMBER_ID, "WHATSAPP_BUSINESS_ACCOUNT_ID": "102030405060",
            "WHATSAPP_API_TOKEN": token, "WHATSAPP_APP_SECRET": app_secret,
            "WHATSAPP_WEBHOOK_VERIFY_TOKEN": verify, "WHATSAPP_GRAPH_API_URL": graph.base_url,
            "WHATSAPP_MEDIA_DIR": str(workdir / "media"), "NOTIFY_SCAN_SECONDS": "0",
            "ACTION_ENDPOINT_URL": f"http://127.0.0.1:{action_port}/webhook", "POSTGRESQL_SCHEMA": schema,
            "PYTHONWARNINGS": "ignore::DeprecationWarning",
            **{key: services[key] for key in services if key.startswith(("TRACKER_DB_", "REDIS_"))},
            **(extra_env or {}),
        })
        instances = [Instance(port, workdir / f"rasa-{port}.log", env) for port in ports]
        actions = start(["python", "-m", "rasa_sdk", "--actions", "actions", "--port", str(action_port)],
                        env, workdir / "actions.log")
        wait_http(f"http://127.0.0.1:{action_port}/health", proc=actions.proc)
        with ThreadPoolExecutor(max_workers=size) as pool:  # load the model in parallel
            list(pool.map(Instance.start, instances))
        cluster = Cluster(f"{services['NGINX_URL']}{WEBHOOK_PATH}", instances, actions, graph, app_secret,
                          db, tracker_db, workdir, control)
        cluster.pump = StatusPump(graph.accepted, lambda raw, stop: cluster.deliver(raw, within=5.0, stop=stop)).start()
        yield cluster
    finally:
        if cluster is not None and cluster.pump is not None:
            cluster.pump.stop()
        with ThreadPoolExecutor(max_workers=size) as pool:  # SIGTERM all, then wait for each
            list(pool.map(lambda instance: instance.kill(signal.SIGTERM), instances))
        if actions is not None:
            actions.stop()
        if graph is not None:
            graph.stop()
        keep_logs(workdir, LOGS / f"{time.strftime('%H%M%S')}-{workdir.name}")
        _quietly(lambda: _drop_schema(tracker_admin, schema))
        for engine in (db, tracker_db, tracker_admin):
            engine.dispose()
        if not control:  # the shared nginx: back to RASA_PORTS' default (run_cluster.sh's instances)
            _quietly(lambda: services_command("nginx", env=base_env(db_url)))


def _drop_schema(engine: Engine, schema: str) -> None:
    """Drop the tracker schema of a cluster."""
    with engine.begin() as connection:
        connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))


def _quietly(step: Any) -> None:
    """Run a clean-up step; a failure (a service already gone) must not hide the test's own outcome."""
    try:
        step()
    except Exception as exc:  # noqa: BLE001
        print(f"cluster clean-up step failed: {type(exc).__name__}: {exc}")
