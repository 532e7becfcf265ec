"""Pure checks for order documents: kinds, file type by content, size, filename, referenced URL.

Nothing here reads the disk or the network: bytes and strings in, a verdict out. The type is
decided by the bytes (the `filetype` library's signatures), never by the name or a declared type.
Meta's caps (shared/whatsapp/README.md section 12): documents 100 MB, images 5 MB.
"""
from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from typing import Optional, Union
from urllib.parse import unquote, urlsplit

import filetype

KINDS = {"invoice": "Invoice", "packing_list": "Packing list", "test_certificate": "Test certificate"}
# Content type -> the extension the stored and shown filename gets.
ALLOWED_TYPES = {"application/pdf": "pdf", "image/jpeg": "jpg", "image/png": "png"}
META_DOCUMENT_MAX_BYTES = 100 * 1024 * 1024
META_IMAGE_MAX_BYTES = 5 * 1024 * 1024  # a JPEG/PNG goes out as a WhatsApp image
DEFAULT_MAX_BYTES = 10 * 1024 * 1024
FILENAME_MAX = 100
URL_MAX = 2000
_SAFE_PUNCTUATION = frozenset(".()+-_ ")
_RUNS = re.compile(r"[\s_]{2,}")

# Words a customer uses for each kind (English, Indian English, Hinglish, Devanagari), longest first
# where one contains another ("test certificate" before "certificate").
_KIND_WORDS = (
    ("packing_list", ("packing list", "packing slip", "packing details", "packinglist", "weight list",
                      "pack list", "पैकिंग लिस्ट", "पैकिंग")),
    ("test_certificate", ("test certificate", "test report", "lab report", "lab test", "certificate",
                          "coa", "tc", "टेस्ट सर्टिफिकेट", "सर्टिफिकेट", "प्रमाणपत्र", "रिपोर्ट")),
    ("invoice", ("tax invoice", "invoice", "invoce", "bill", "bil", "इनवॉइस", "इनवाइस", "बिल")),
)
_EWAY = re.compile(r"\be[\s-]?way\s*bill\b", re.IGNORECASE)  # another paper, not the invoice


@dataclass(frozen=True)
class CheckedFile:
    """An accepted upload: what it is by its bytes, and the name it will be shown under."""

    content_type: str
    filename: str
    size: int
    sha256: str

    @property
    def extension(self) -> str:
        return ALLOWED_TYPES[self.content_type]


@dataclass(frozen=True)
class Refusal:
    """Why an upload or a URL is refused: a stable code and a sentence naming the problem."""

    code: str
    message: str


def kind_label(kind: str) -> str:
    """Return the words for a document kind ("Packing list")."""
    return KINDS.get(kind, kind.replace("_", " ").capitalize())


def normalize_kind(value: Optional[str]) -> Optional[str]:
    """Return the kind ("invoice", "packing_list", "test_certificate") a text names, else None."""
    text = " ".join(str(value or "").lower().replace("_", " ").replace("-", " ").split())
    if not text or _EWAY.search(text):
        return None
    if text.replace(" ", "_") in KINDS:
        return text.replace(" ", "_")
    for kind, words in _KIND_WORDS:
        for word in words:
            if re.search(rf"(?<!\w){re.escape(word)}(?!\w)", text):
                return kind
    return None


def max_bytes_setting(raw: Optional[str]) -> int:
    """Return DOCUMENTS_MAX_BYTES as a positive number of bytes, at most Meta's document cap."""
    try:
        value = int(str(raw).strip()) if raw not in (None, "") else DEFAULT_MAX_BYTES
    except ValueError:
        value = DEFAULT_MAX_BYTES
    return min(max(value, 1), META_DOCUMENT_MAX_BYTES)


def check_file(data: bytes, filename: Optional[str], kind: str, order_ref: str, max_bytes: int) -> Union[CheckedFile, Refusal]:
    """Accept a PDF, JPEG or PNG (by its bytes) within the size limits; else say why not."""
    if kind not in KINDS:
        return _unknown_kind()
    size = len(data)
    if size == 0:
        return Refusal("empty_file", "The file is empty.")
    if size > max_bytes:
        return Refusal("file_too_large", f"The file is {_mb(size)}; the limit is {_mb(max_bytes)}.")
    guessed = filetype.guess(data[:8192])
    mime = guessed.mime if guessed is not None else None
    if mime not in ALLOWED_TYPES:
        seen = f" (its content is {mime})" if mime else ""
        return Refusal("unsupported_type", f"Only PDF, JPEG or PNG files are accepted{seen}.")
    if mime.startswith("image/") and size > META_IMAGE_MAX_BYTES:
        return Refusal("file_too_large",
                       f"The image is {_mb(size)}; WhatsApp takes images up to {_mb(META_IMAGE_MAX_BYTES)}.")
    name = sanitize_filename(filename, ALLOWED_TYPES[mime], default_filename(kind, order_ref))
    return CheckedFile(mime, name, size, hashlib.sha256(data).hexdigest())


def check_url(url: Optional[str], kind: str, order_ref: str, filename: Optional[str] = None) -> Union[CheckedFile, Refusal]:
    """Accept an https URL for Meta to fetch; the type is a guess from its path (Meta fetches the bytes)."""
    if kind not in KINDS:
        return _unknown_kind()
    text = str(url or "")
    parts = urlsplit(text) if text else None
    if (parts is None or parts.scheme != "https" or not parts.hostname or len(text) > URL_MAX
            or any(ch.isspace() for ch in text) or parts.username or parts.password):
        return Refusal("invalid_url", "url must be an https URL (no spaces, no user or password, "
                                      f"at most {URL_MAX} characters).")
    last = unquote(parts.path.rsplit("/", 1)[-1])
    extension = last.rsplit(".", 1)[-1].lower() if "." in last else ""
    mime = {"pdf": "application/pdf", "jpg": "image/jpeg", "jpeg": "image/jpeg", "png": "image/png"}.get(extension)
    if mime is None:
        return Refusal("unsupported_type", "url must end in .pdf, .jpg, .jpeg or .png.")
    name = sanitize_filename(filename or last, ALLOWED_TYPES[mime], default_filename(kind, order_ref))
    return CheckedFile(mime, name, 0, "")


def default_filename(kind: str, order_ref: str) -> str:
    """Return the name a document gets when the upload names none: "Invoice ORD-10001"."""
    return f"{kind_label(kind)} {order_ref}"


def sanitize_filename(raw: Optional[str], extension: str, fallback: str) -> str:
    """Return a plain, short filename ending in the extension the content has.

    Any folder part is dropped, control and unusual characters become "_", leading dots go (no
    hidden files), and the name keeps at most FILENAME_MAX characters.
    """
    name = unicodedata.normalize("NFKC", str(raw or "")).replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")
    stem = name.rsplit(".", 1)[0] if "." in name.lstrip(".") else name
    stem = _plain(stem)
    if not stem:
        stem = _plain(fallback) or "document"
    return f"{stem[: FILENAME_MAX - len(extension) - 1].rstrip(' ._-')}.{extension}"


def _plain(text: str) -> str:
    """Keep letters, marks and digits of any script and a little punctuation; anything else becomes "_"."""
    kept = "".join(ch if ch in _SAFE_PUNCTUATION or unicodedata.category(ch)[0] in "LMN" else "_" for ch in text)
    return _RUNS.sub(" ", kept).strip(" ._-")


def _unknown_kind() -> Refusal:
    """Return the refusal for a kind that is not one of KINDS."""
    return Refusal("unknown_kind", f"kind must be one of {', '.join(KINDS)}.")


def _mb(size: int) -> str:
    """Return a size in MB for people ("10 MB", "2.5 MB")."""
    value = size / (1024 * 1024)
    return f"{value:.0f} MB" if value >= 10 or value == int(value) else f"{value:.1f} MB"
