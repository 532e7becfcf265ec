"""Which inbound media the channel downloads, and what it tells the user when it will not: pure decisions.

A file is fetched only when the conversation can use it: its sender is registered and the active
form is at a step that declares it takes media (MEDIA_STEPS). Its size is checked against the cap
(WHATSAPP_MEDIA_MAX_BYTES) and what is left of the sender's quota for the last 24 hours
(WHATSAPP_MEDIA_QUOTA_BYTES), first against the size Meta announces, then while it streams.
"""
from __future__ import annotations

import mimetypes
import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Mapping, Optional

MB = 1024 * 1024
QUOTA_WINDOW = timedelta(hours=24)

# Why a file was not downloaded (metadata["media"]["reason"]). The refusals are told to the user by
# the form, which then asks again; the rest are silent.
NOT_NEEDED = "not_needed"  # no form step takes a file now: the assistant answers as usual
UNREGISTERED = "unregistered"
FAILED = "failed"  # Meta would not give it (expired id, network): the form takes the media id
TOO_LARGE = "too_large"
OVER_QUOTA = "quota"
WRONG_KIND = "wrong_kind"
REFUSALS = frozenset({TOO_LARGE, OVER_QUOTA, WRONG_KIND})


@dataclass(frozen=True)
class MediaStep:
    """A form step that takes a file: the form, its slot, the kinds it accepts, what to call the file."""

    form: str
    slot: str
    kinds: frozenset[str]
    noun: str


# Add a (form, slot) here when a new flow asks for a file; everything else is never downloaded.
MEDIA_STEPS: tuple[MediaStep, ...] = (
    MediaStep("defect_report_form", "defect_photo", frozenset({"image", "document"}), "photo"),
)


def step_for(form: Optional[str], slot: Optional[str],
             steps: tuple[MediaStep, ...] = MEDIA_STEPS) -> Optional[MediaStep]:
    """Return the media step the conversation is at (active form, requested slot), or None."""
    return next((s for s in steps if s.form == form and s.slot == slot), None)


def refusal_before(kind: str, step: MediaStep, announced: Optional[int], max_bytes: int,
                   left: int) -> Optional[str]:
    """Return why a file must not be fetched, from what is known before its bytes, or None."""
    if kind not in step.kinds:
        return WRONG_KIND
    if left <= 0:
        return OVER_QUOTA
    return None if announced is None else over_limit(announced, max_bytes, left)


def over_limit(size: int, max_bytes: int, left: int) -> Optional[str]:
    """Return TOO_LARGE above the cap, OVER_QUOTA above what is left of the quota, else None."""
    if size > max_bytes:
        return TOO_LARGE
    if size > left:
        return OVER_QUOTA
    return None


def stream_limit(max_bytes: int, left: int) -> int:
    """Return how many bytes a download may write before it is stopped."""
    return max(0, min(max_bytes, left))


def refusal_text(reason: str, step: MediaStep, max_bytes: int, quota: int) -> str:
    """Return the answer for a refused file (the form then asks for the file again)."""
    if reason == TOO_LARGE:
        return f"That file is too large (max {human_bytes(max_bytes)}). Please send a smaller {step.noun}."
    if reason == OVER_QUOTA:
        return (f"You have sent as many files as I can take today ({human_bytes(quota)} a day). "
                "Please try again tomorrow.")
    kinds = " or a ".join(sorted(_KIND_NAMES.get(k, k) for k in step.kinds))
    return f"I can only take a {kinds} here."


_KIND_NAMES = {"image": "photo", "document": "document", "audio": "voice note", "video": "video"}


def human_bytes(size: int) -> str:
    """Return a size as people read it: "10 MB", "2.5 MB", "300 KB"."""
    if size >= MB:
        value = size / MB
        return f"{value:.0f} MB" if value == int(value) else f"{value:.1f} MB"
    return f"{max(1, round(size / 1024))} KB"


def describe(kind: str, media: Mapping[str, Any]) -> dict[str, Any]:
    """Return what the assistant is told about a file before (or without) downloading it."""
    return {"kind": kind, "media_id": str(media.get("media_id") or ""),
            "mime_type": media.get("mime_type") or None, "caption": media.get("caption"),
            "filename": media.get("filename"), "path": None, "downloaded": False}


def media_path(media_dir: Path, media_id: str, mime_type: str) -> Path:
    """Return where a media id is stored: <media_id><ext> under media_dir, whatever the id contains."""
    name = re.sub(r"[^A-Za-z0-9_-]", "_", media_id)[:100] or "media"
    extension = mimetypes.guess_extension((mime_type or "").split(";")[0].strip()) or ".bin"
    return media_dir / f"{name}{extension}"
