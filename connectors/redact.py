"""Keep secrets and full phone numbers out of every log line, whoever logs it and at any level.

`mask_text(text, secrets)` is pure. `install()` hooks the process's logging once (idempotent):
- a LogRecord factory masks each record as it is made: the message (msg % args, formatted once),
  the exception text and the stack, so every handler and every reader of records sees masked text;
- `logging.Handler.format` masks each finished line too, which covers what is attached after the
  record is made (`extra=` fields such as Sanic's access-log request line) or added by a formatter;
- `sys.excepthook` masks the traceback of an exception nobody caught.
Secrets are the values of SECRET_VARIABLES and the passwords inside URL_VARIABLES, read from the
environment when a record is made; phone numbers are runs of 10 to 15 digits (see mask_number).
"""
from __future__ import annotations

import io
import logging
import os
import re
import sys
from typing import Callable, Iterable, Mapping, Optional
from urllib.parse import quote, unquote, urlsplit

SECRET_VARIABLES = (
    "WHATSAPP_API_TOKEN", "WHATSAPP_APP_SECRET", "WHATSAPP_WEBHOOK_VERIFY_TOKEN", "MANAGEMENT_API_TOKEN",
    "DATA_API_TOKEN",
    "TRACKER_DB_PASSWORD", "REDIS_PASSWORD", "STAFF_PASSWORD",
)
URL_VARIABLES = ("DATABASE_URL", "TRACKER_DB_URL", "REDIS_URL")
MIN_SECRET_LENGTH = 6  # a shorter value would mask ordinary words; such a secret is weak anyway
HIDDEN = "***"
KEEP_HEAD, KEEP_TAIL = 5, 2  # 919800000001 -> 91980*****01

# A whole run of 10-15 digits, optionally after + (or %2B), not glued to letters or digits (a wamid,
# a hex id) and not part of a decimal number (a timestamp such as 1764000000.123).
_NUMBER = re.compile(r"(?<![A-Za-z0-9])(?<!\d\.)(\+|%2[Bb])?(\d{10,15})(?![A-Za-z0-9])(?!\.\d)")
_BEARER = re.compile(r"(?i)\b(bearer)(\s+)[A-Za-z0-9\-._~+/]+=*")
_AUTHORIZATION = re.compile(r"(?i)(\bauthorization\b[\"']?\s*[:=]\s*[\"']?)(?!bearer\s)(?:[A-Za-z]+\s+)?[^\s\"',;}]+")
_KEY_VALUE = re.compile(r"(?i)(?<![A-Za-z0-9_.\-])([A-Za-z0-9_.\-]*(?:token|secret|password|passwd|api_key|apikey))"
                        r"([\"']?\s*[:=]\s*[\"']?)[^\s\"'&,;}<>]+")
# The scheme starts where its run of scheme characters starts (not at every \b inside "a.b.c..."),
# so each run is scanned once: linear, where \b[a-z] made 4,096 characters of "a." take 100 ms.
_URL_PASSWORD = re.compile(r"(?i)((?<![a-z0-9+.\-])[a-z0-9+.\-]+://[^\s:/@]*:)[^\s@/]+(@)")
_FORMATTER = logging.Formatter()
_cache: tuple[tuple[Optional[str], ...], tuple[str, ...]] = ((), ())  # (environment key, its secrets)


def mask_number(number: str) -> str:
    """Show a phone number's first 5 and last 2 digits only, keeping its length and any + sign."""
    sign, digits = ("+", number[1:]) if number.startswith("+") else ("", number)
    hidden = max(len(digits) - KEEP_HEAD - KEEP_TAIL, 1)
    return f"{sign}{digits[:KEEP_HEAD]}{'*' * hidden}{digits[KEEP_HEAD + hidden:]}"


def mask_text(text: str, secrets: Iterable[str] = ()) -> str:
    """Return text with the given secret values, credentials and full phone numbers masked."""
    for secret in sorted(set(secrets), key=len, reverse=True):
        if len(secret) >= MIN_SECRET_LENGTH and secret in text:
            text = text.replace(secret, HIDDEN)
    text = _BEARER.sub(rf"\1\2{HIDDEN}", text)
    text = _AUTHORIZATION.sub(rf"\1{HIDDEN}", text)
    text = _KEY_VALUE.sub(rf"\1\2{HIDDEN}", text)
    text = _URL_PASSWORD.sub(rf"\1{HIDDEN}\2", text)
    return _NUMBER.sub(lambda m: (m.group(1) or "") + mask_number(m.group(2)), text)


def secret_values(environ: Mapping[str, str]) -> tuple[str, ...]:
    """Return the secret values configured in environ, as written and URL-encoded or decoded."""
    values = [environ.get(name, "").strip() for name in SECRET_VARIABLES]
    for name in URL_VARIABLES:
        try:
            values.append(urlsplit(environ.get(name, "")).password or "")
        except ValueError:  # not a URL: nothing to take from it
            continue
    variants = {v for value in values if value for v in (value, unquote(value), quote(unquote(value), safe=""))}
    return tuple(v for v in variants if len(v) >= MIN_SECRET_LENGTH)


def redact_record(record: logging.LogRecord, secrets: Iterable[str]) -> None:
    """Mask a record in place: its message (args merged in), exception text and stack."""
    secrets = tuple(secrets)
    if isinstance(record.msg, str) or record.args:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken format or __str__: logging reports it on emit, as before
            message = None
        if message is not None:
            record.msg, record.args = mask_text(message, secrets), ()
    if record.exc_info and not record.exc_text:
        record.exc_text = mask_text(_FORMATTER.formatException(record.exc_info), secrets)
    if record.stack_info:
        record.stack_info = mask_text(record.stack_info, secrets)



def _current_secrets() -> tuple[str, ...]:
    """Return the secrets of the current environment (recomputed only when it changed)."""
    global _cache
    key = tuple(os.environ.get(name) for name in SECRET_VARIABLES + URL_VARIABLES)
    if key != _cache[0]:
        _cache = (key, secret_values(os.environ))
    return _cache[1]


def _masking_factory(previous: Callable[..., logging.LogRecord]) -> Callable[..., logging.LogRecord]:
    """Wrap a LogRecord factory so that every record it makes is masked."""
    def factory(*args: object, **kwargs: object) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        redact_record(record, _current_secrets())
        return record

    factory.redacts = True  # type: ignore[attr-defined]
    return factory


def _masking_format(previous: Callable[[logging.Handler, logging.LogRecord], str]) -> Callable[..., str]:
    """Wrap Handler.format so that every finished line is masked."""
    def format(self: logging.Handler, record: logging.LogRecord) -> str:  # noqa: A001 - Handler's name
        return mask_text(previous(self, record), _current_secrets())

    format.redacts = True  # type: ignore[attr-defined]
    return format


def _masking_excepthook(previous: Callable[..., object]) -> Callable[..., None]:
    """Wrap sys.excepthook so that an uncaught exception's traceback is printed masked."""
    def excepthook(kind: type, value: BaseException, tb: object) -> None:
        stderr, sys.stderr = sys.stderr, io.StringIO()  # the previous hook (an error reporter too) still runs
        try:
            previous(kind, value, tb)
        finally:
            printed, sys.stderr = sys.stderr.getvalue(), stderr
        stderr.write(mask_text(printed, _current_secrets()))

    excepthook.redacts = True  # type: ignore[attr-defined]
    return excepthook


def installed() -> bool:
    """Return whether this process's logging masks secrets and phone numbers."""
    return bool(getattr(logging.getLogRecordFactory(), "redacts", False)
                and getattr(logging.Handler.format, "redacts", False))


def install() -> None:
    """Mask every log record and line of this process from now on; calling it again changes nothing."""
    if not getattr(logging.getLogRecordFactory(), "redacts", False):
        logging.setLogRecordFactory(_masking_factory(logging.getLogRecordFactory()))
    if not getattr(logging.Handler.format, "redacts", False):
        logging.Handler.format = _masking_format(logging.Handler.format)  # type: ignore[method-assign]
    if not getattr(sys.excepthook, "redacts", False):
        sys.excepthook = _masking_excepthook(sys.excepthook)
