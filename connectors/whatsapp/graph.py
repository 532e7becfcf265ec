"""Graph API client on aiohttp: send a message, mark one read, upload media, look media up and open it.

One ClientSession per process, created inside the running loop on first use, with an explicit
timeout. Every failure is raised as an errors.py type. The access token only goes to the configured
Graph host or to Meta's own hosts (media URLs may redirect to a CDN).
"""
from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, AsyncIterator, Mapping, Optional
from urllib.parse import urljoin, urlsplit

import aiohttp

from connectors.whatsapp.config import WhatsAppConfig
from connectors.whatsapp.errors import GraphError, NetworkError, PermanentError

DEFAULT_TIMEOUT = aiohttp.ClientTimeout(total=20, connect=5, sock_read=15)
MAX_REDIRECTS = 3
META_HOST_SUFFIXES = ("facebook.com", "fbsbx.com", "fbcdn.net", "whatsapp.net")


@dataclass(frozen=True)
class MediaInfo:
    """What Meta says about a media id: where to fetch it, its type and (if given) its size."""

    url: str
    mime_type: str
    file_size: Optional[int]  # bytes; None when Meta gave no usable size


class GraphClient:
    """Talk to the Graph API for one business phone number."""

    def __init__(self, config: WhatsAppConfig, timeout: aiohttp.ClientTimeout = DEFAULT_TIMEOUT) -> None:
        """Args:
            config: settings from the environment; the token comes from WHATSAPP_API_TOKEN.
            timeout: limits for every call (connect, read, total).
        """
        self._config = config
        self._timeout = timeout
        self._session: Optional[aiohttp.ClientSession] = None
        self._graph_host = urlsplit(config.graph_api_url).netloc.lower()

    @property
    def session(self) -> aiohttp.ClientSession:
        """Return the process's HTTP session, creating it in the running loop on first use."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self._session

    async def close(self) -> None:
        """Close the HTTP session."""
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    async def send_message(self, payload: Mapping[str, Any]) -> str:
        """Send one /messages body and return the wamid Meta assigned."""
        body = await self._call("POST", self._messages_url, json=dict(payload))
        messages = body.get("messages") if isinstance(body, dict) else None
        if isinstance(messages, list) and messages and isinstance(messages[0], dict):
            return str(messages[0].get("id") or "")
        return ""  # accepted without an id: nothing to retry, statuses will not match

    async def mark_read(self, wamid: str, typing: bool = True) -> None:
        """Mark an inbound message read and, if typing, show the typing indicator (up to 25 s)."""
        body: dict[str, Any] = {"messaging_product": "whatsapp", "status": "read", "message_id": wamid}
        if typing:
            body["typing_indicator"] = {"type": "text"}
        await self._call("POST", self._messages_url, json=body)

    async def upload_media(self, data: bytes, mime_type: str, filename: str) -> str:
        """Upload a file (multipart, as Meta's /media expects) and return its media id (valid 30 days)."""
        form = aiohttp.FormData()
        form.add_field("messaging_product", "whatsapp")
        form.add_field("type", mime_type)
        form.add_field("file", data, filename=filename, content_type=mime_type)
        body = await self._call("POST", f"{self._config.graph_base}/{self._config.phone_number_id}/media",
                                data=form)
        media_id = body.get("id") if isinstance(body, dict) else None
        if not isinstance(media_id, str) or not media_id:
            raise PermanentError(None, "media upload returned no id")
        return media_id

    async def media_info(self, media_id: str) -> MediaInfo:
        """Look a media id up: its short-lived download URL, MIME type and announced size."""
        info = await self._call("GET", f"{self._config.graph_base}/{media_id}",
                                params={"phone_number_id": self._config.phone_number_id})
        url = info.get("url") if isinstance(info, dict) else None
        if not isinstance(url, str) or not url:
            raise PermanentError(None, "media lookup returned no url")
        return MediaInfo(url, str(info.get("mime_type") or ""), _size(info.get("file_size")))

    @asynccontextmanager
    async def open_media(self, url: str) -> AsyncIterator[aiohttp.ClientResponse]:
        """Open a media URL (200 only), following redirects ourselves so the token never leaves Meta.

        The caller reads the body in chunks (response.content) and may stop at any point.
        """
        for _ in range(MAX_REDIRECTS + 1):
            if not self.may_carry_token(url):
                raise PermanentError(None, "media url is not on a Meta or configured host")
            try:
                async with self.session.get(url, headers=self._auth(), allow_redirects=False) as response:
                    if response.status in (301, 302, 303, 307, 308) and response.headers.get("Location"):
                        url = urljoin(url, response.headers["Location"])
                        continue
                    if response.status != 200:
                        raise GraphError.from_response(response.status, await _json_or_none(response))
                    yield response
                    return
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                raise NetworkError(None, f"media download failed: {type(exc).__name__}") from exc
        raise PermanentError(None, "too many redirects for media")

    @property
    def _messages_url(self) -> str:
        """Return this number's /messages endpoint."""
        return f"{self._config.graph_base}/{self._config.phone_number_id}/messages"

    def _auth(self) -> dict[str, str]:
        """Return the Bearer header."""
        return {"Authorization": f"Bearer {self._config.api_token}"}

    def may_carry_token(self, url: str) -> bool:
        """Return True if the token may be sent to url: the configured Graph host or Meta's (https)."""
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        if parts.netloc.lower() == self._graph_host:
            return True
        is_meta = any(host == s or host.endswith("." + s) for s in META_HOST_SUFFIXES)
        return is_meta and parts.scheme == "https"

    async def _call(self, method: str, url: str, **kwargs: Any) -> Any:
        """Make one Graph call and return its JSON; raise a GraphError subclass on failure."""
        try:
            async with self.session.request(method, url, headers=self._auth(), **kwargs) as response:
                body = await _json_or_none(response)
                if response.status != 200:
                    raise GraphError.from_response(response.status, body)
                return body
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise NetworkError(None, f"{method} failed: {type(exc).__name__}") from exc


def _size(value: Any) -> Optional[int]:
    """Return Meta's file_size (a string of digits, or a number) as bytes, else None."""
    text = str(value).strip() if value is not None else ""
    return int(text) if text.isdigit() else None


async def _json_or_none(response: aiohttp.ClientResponse) -> Any:
    """Return the response's JSON body, or None when it has none."""
    try:
        return await response.json(content_type=None)
    except ValueError:
        return None
