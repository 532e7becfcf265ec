"""The real assistant with the WhatsApp, management and data channels, against the Graph stand-in."""
from __future__ import annotations

import json
import secrets
import urllib.error
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping, Optional

from tests.management.operator_stack import CREDENTIALS, Operator, operator_stack

CHANNELS = CREDENTIALS + "connectors.data.DataInput:\n"
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass
class DataStack:
    """The running stack seen from the ERP: the data API with its token, plus the operator's view."""

    operator: Operator
    token: str

    @property
    def api_url(self) -> str:
        """Return http://127.0.0.1:PORT/api/data."""
        return f"{self.operator.whatsapp.stack.rasa_url}/api/data"

    def call(self, method: str, path: str, body: Any = None,
             headers: Optional[dict[str, str]] = None) -> tuple[int, Any]:
        """Call the data API (with the data token unless headers say otherwise); return (status, JSON)."""
        data = None if body is None else json.dumps(body).encode()
        sent = {"Authorization": f"Bearer {self.token}"} if headers is None else headers
        request = urllib.request.Request(self.api_url + path, data, {**sent, "Content-Type": "application/json"},
                                         method=method)
        try:
            with _NO_PROXY.open(request, timeout=30) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")

    def put(self, kind: str, *rows: dict[str, Any]) -> tuple[int, Any]:
        """Upsert rows of one kind."""
        return self.call("PUT", f"/{kind}", {"rows": list(rows)})


@contextmanager
def data_stack(workdir: Path, extra_env: Optional[Mapping[str, str]] = None) -> Iterator[DataStack]:
    """Run the whole stack with a fresh data token; stop it afterwards."""
    token = secrets.token_urlsafe(24)
    with operator_stack(workdir, {"DATA_API_TOKEN": token, **(extra_env or {})}, channels=CHANNELS) as operator:
        yield DataStack(operator, token)
