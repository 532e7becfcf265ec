"""The production configuration offers no unauthenticated way to choose a sender id and read data.

Rasa runs with deploy/credentials.production.yml (WhatsApp and the operator API, no `rest:`) and without
--enable-api; the action server, which trusts whatever sender id it is sent, listens on loopback only.
A second Rasa on the same action server and database runs with --enable-api, an --auth-token and a
--jwt-secret: its HTTP API answers nobody who lacks them.
"""
from __future__ import annotations

import json
import secrets
import socket
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Mapping, Optional

import jwt
import pytest

from tests.e2e.whatsapp_fixtures import PHONE_NUMBER_ID, ThreadedGraph
from tests.harness import MODEL, ROOT, Service, Stack, free_port, keep_logs, running_stack, start, wait_http

ASHA = "919800000001"
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))
PROBES = [  # (method, path, JSON body): every way Rasa 3.6 offers to pick a sender and read or write its data
    ("POST", "/webhooks/rest/webhook", {"sender": ASHA, "message": "show my orders"}),
    ("GET", "/webhooks/rest/", None),
    ("POST", "/webhooks/callback/webhook", {"sender": ASHA, "message": "hi"}),
    ("POST", "/webhooks/socketio/webhook", {"sender": ASHA, "message": "hi"}),
    ("GET", f"/conversations/{ASHA}/tracker", None),
    ("GET", f"/conversations/{ASHA}/story", None),
    ("POST", f"/conversations/{ASHA}/messages", {"text": "show my orders", "sender": "user"}),
    ("POST", f"/conversations/{ASHA}/tracker/events", {"event": "slot", "name": "x", "value": 1}),
    ("PUT", f"/conversations/{ASHA}/tracker/events", []),
    ("POST", f"/conversations/{ASHA}/execute", {"name": "action_recent_orders"}),
    ("POST", f"/conversations/{ASHA}/trigger_intent", {"name": "check_order_status"}),
    ("POST", f"/conversations/{ASHA}/predict", None),
    ("POST", "/model/parse", {"text": "where is ORD-10001"}),
    ("POST", "/model/predict", []),
    ("POST", "/model/train", {}),
    ("PUT", "/model", {"model_file": "/etc/passwd"}),
    ("DELETE", "/model", None),
    ("GET", "/domain", None),
    ("GET", "/status", None),
    ("POST", "/model/test/intents", None),
    ("POST", "/model/test/stories", None),
]


@pytest.fixture(scope="module")
def production(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Run Rasa as in production (WhatsApp only, no HTTP API) with its action server, against the fake Graph."""
    token, app_secret, verify = (secrets.token_urlsafe(24) for _ in range(3))
    graph = ThreadedGraph(token, PHONE_NUMBER_ID).start()
    workdir = tmp_path_factory.mktemp("production")
    env = {
        "WHATSAPP_PHONE_NUMBER_ID": PHONE_NUMBER_ID, "WHATSAPP_BUSINESS_ACCOUNT_ID": "102030405060",
        "WHATSAPP_API_TOKEN": token, "WHATSAPP_APP_SECRET": app_secret,
        "WHATSAPP_WEBHOOK_VERIFY_TOKEN": verify, "WHATSAPP_GRAPH_API_URL": graph.base_url,
        "WHATSAPP_MEDIA_DIR": str(workdir / "media"),
        # The production credentials pace through Redis; none runs here, so each process paces itself.
        "REDIS_HOST": "127.0.0.1", "REDIS_PORT": str(free_port()),
    }
    try:
        with running_stack(workdir, credentials=ROOT / "deploy" / "credentials.production.yml", extra_env=env) as stack:
            yield stack
    finally:
        graph.stop()
        keep_logs(workdir, ROOT / "var" / "e2e-logs" / workdir.name)


@dataclass(frozen=True)
class ApiRasa:
    """A `rasa run --enable-api` guarded by a token and a JWT secret."""

    url: str
    token: str
    jwt_secret: str


@pytest.fixture(scope="module")
def api_rasa(production: Stack) -> Iterator[ApiRasa]:
    """Start a second Rasa on the production stack's action server and database, with its HTTP API on."""
    token, jwt_secret, port = secrets.token_urlsafe(32), secrets.token_urlsafe(32), free_port()
    cmd = [
        "rasa", "run", "--model", str(MODEL), "--endpoints", str(production.workdir / "endpoints.yml"),
        "--credentials", str(ROOT / "deploy" / "credentials.production.yml"),
        "--interface", "127.0.0.1", "--port", str(port),
        "--enable-api", "--auth-token", token, "--jwt-secret", jwt_secret, "--jwt-method", "HS256",
    ]
    service: Service = start(cmd, production.env, production.workdir / "rasa-api.log")
    try:
        wait_http(f"http://127.0.0.1:{port}/", proc=service.proc, timeout=180)
        yield ApiRasa(f"http://127.0.0.1:{port}", token, jwt_secret)
    finally:
        service.stop()


def bearer(secret: str, username: str = "operator", role: str = "admin") -> dict[str, str]:
    """Return an Authorization header with an HS256 JWT for this user and role, valid for a minute."""
    claims = {"user": {"username": username, "role": role}, "exp": int(time.time()) + 60}
    return {"Authorization": f"Bearer {jwt.encode(claims, secret, algorithm='HS256')}"}


def call(
    url: str, method: str, body: Optional[object] = None, headers: Optional[Mapping[str, str]] = None
) -> tuple[int, bytes]:
    """Send one request (unauthenticated unless headers say otherwise); return (status, body)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url, data, {"Content-Type": "application/json", **(headers or {})}, method=method
    )
    try:
        with _NO_PROXY.open(request, timeout=15) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


@pytest.mark.parametrize("method, path, body", PROBES, ids=[f"{m} {p}" for m, p, _ in PROBES])
def test_no_route_lets_a_caller_pick_a_sender(production, method, path, body):
    """Rasa's REST channel and HTTP API answer 401, 403, 404 or 405 and leak nothing about the customer."""
    status, answer = call(production.rasa_url + path, method, body)
    assert status in (401, 403, 404, 405), (status, answer[:300])
    answer = answer.replace(path.encode(), b"")  # a 404 echoes the path it was asked for
    assert b"ORD-1000" not in answer and ASHA.encode() not in answer


@pytest.mark.parametrize("path", ["/", "/version"])
def test_what_rasa_still_serves_names_no_conversation(production, path):
    """Rasa's root and /version stay open but carry no customer data."""
    status, answer = call(production.rasa_url + path, "GET")
    assert status in (200, 404) and ASHA.encode() not in answer and b"ORD-" not in answer


def test_the_whatsapp_webhook_needs_a_signature_and_the_verify_token(production):
    """The only conversation route left refuses an unsigned delivery and a wrong verify token."""
    url = production.rasa_url + "/webhooks/whatsapp/webhook"
    assert call(url, "POST", {"object": "whatsapp_business_account", "entry": []})[0] == 401
    challenge = "?hub.mode=subscribe&hub.verify_token=guess&hub.challenge=123"
    assert call(url + challenge, "GET")[0] == 403


def _non_loopback_addresses() -> list[str]:
    """Return this machine's IPv4 addresses other than 127.0.0.0/8."""
    found: set[str] = set()
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("192.0.2.1", 9))  # no packet is sent; this picks the outward interface
            found.add(probe.getsockname()[0])
    except OSError:
        pass
    try:
        found.update(info[4][0] for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET))
    except OSError:
        pass
    return sorted(a for a in found if not a.startswith("127.") and a != "0.0.0.0")


def _listening_addresses(port: int) -> set[str]:
    """Return the local IPv4/IPv6 addresses (hex, as in /proc/net/tcp*) listening on port."""
    found = set()
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        path = Path(name)
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            address, port_hex = fields[1].rsplit(":", 1)
            if fields[3] == "0A" and int(port_hex, 16) == port:  # 0A = LISTEN
                found.add(address)
    return found


@pytest.mark.parametrize("service", ["actions", "rasa", "rasa with the HTTP API"])
def test_servers_listen_on_loopback_only(production, request, service):
    """The action server and Rasa (behind nginx), with or without its HTTP API, cannot be reached from another machine."""
    url = {"actions": production.actions_url, "rasa": production.rasa_url}.get(service)
    url = url or request.getfixturevalue("api_rasa").url
    port = int(url.rsplit(":", 1)[1])
    listening = _listening_addresses(port)
    assert listening, f"nothing listens on {port}"
    assert listening <= {"0100007F", "00000000000000000000000001000000"}, listening  # 127.0.0.1, ::1
    for address in _non_loopback_addresses():
        with socket.socket() as sock, pytest.raises(OSError):
            sock.settimeout(2)
            sock.connect((address, port))


# The HTTP API's routes (the webhooks belong to channels, which the API flag does not add).
API_PROBES = [p for p in PROBES if not p[1].startswith("/webhooks/")]
WEBHOOK_PROBES = [p for p in PROBES if p[1].startswith("/webhooks/")]
WRONG_CREDENTIALS = {
    "no token": lambda api: ("", {}),
    "wrong token": lambda api: ("?token=" + secrets.token_urlsafe(32), {}),
    "empty token": lambda api: ("?token=", {}),
    "token in a header": lambda api: ("", {"Authorization": f"Bearer {api.token}"}),
    "JWT signed with another secret": lambda api: ("", bearer(secrets.token_urlsafe(32))),
    "JWT without a role": lambda api: ("", bearer(api.jwt_secret, role="")),
}


def refused_without_data(status: int, answer: bytes, path: str) -> None:
    """Assert a refusal that tells the caller nothing about the customer."""
    assert status in (401, 403), (status, answer[:300])
    answer = answer.replace(path.encode(), b"")
    assert b"ORD-1000" not in answer and ASHA.encode() not in answer and b"events" not in answer


@pytest.mark.parametrize("credential", list(WRONG_CREDENTIALS))
@pytest.mark.parametrize("method, path, body", API_PROBES, ids=[f"{m} {p}" for m, p, _ in API_PROBES])
def test_the_http_api_refuses_a_caller_without_the_token(api_rasa, method, path, body, credential):
    """With --enable-api, every API route answers 401 or 403 and no data to a missing, wrong or misplaced token."""
    query, headers = WRONG_CREDENTIALS[credential](api_rasa)
    status, answer = call(api_rasa.url + path + query, method, body, headers)
    refused_without_data(status, answer, path)


@pytest.mark.parametrize("method, path, body", WEBHOOK_PROBES, ids=[f"{m} {p}" for m, p, _ in WEBHOOK_PROBES])
def test_the_http_api_adds_no_channel(api_rasa, method, path, body):
    """--enable-api opens no REST, callback or socket.io channel, even with the right token."""
    status, answer = call(f"{api_rasa.url}{path}?token={api_rasa.token}", method, body)
    assert status in (404, 405), (status, answer[:300])


def test_a_user_jwt_reaches_only_its_own_conversation(api_rasa):
    """A JWT with role "user" for another number is refused Asha's conversation (403)."""
    status, answer = call(f"{api_rasa.url}/conversations/{ASHA}/tracker", "GET",
                          headers=bearer(api_rasa.jwt_secret, username="919800000002", role="user"))
    refused_without_data(status, answer, f"/conversations/{ASHA}/tracker")
    assert status == 403


@pytest.mark.parametrize("how", ["token", "admin JWT"])
def test_the_right_credentials_open_the_api(api_rasa, how):
    """With the right token or an admin JWT the same route answers, so the refusals above are real refusals."""
    path = f"/conversations/{ASHA}/tracker"
    if how == "token":
        status, answer = call(f"{api_rasa.url}{path}?token={api_rasa.token}", "GET")
    else:
        status, answer = call(api_rasa.url + path, "GET", headers=bearer(api_rasa.jwt_secret))
    assert status == 200, answer[:300]
    assert json.loads(answer)["sender_id"] == ASHA
