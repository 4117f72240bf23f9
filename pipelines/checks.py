"""Checks shared by the tasks' `Request.check` and the studio: a form value that must be a number
or a whole number, and the one text policy for every free-text field, with the message a visitor
reads when a value does not pass."""
from __future__ import annotations

import dataclasses
import math
import re
from typing import Any

from pipelines.errors import InputError


def number(name: str, value: Any) -> float:
    """`value` as a finite float; booleans, strings, NaN and infinities are refused."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InputError(f"{name} must be a number, not {value!r}.")
    return float(value)


def whole(name: str, value: Any) -> int:
    """`value` as an int; a float with no fraction (as Gradio sends numbers) is accepted."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError(f"{name} must be a whole number, not {value!r}.")
    return value


# ---- the text policy: every free-text field (prompts, titles, scripts, dialogue, names) ---------

# Control characters (Unicode category Cc: C0, DEL, C1) other than newline and tab. They are never
# meant: NUL, BEL and ESC sequences come from pasted terminal output or from someone probing.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# The free-text fields of the tasks' requests; each task's `check` then applies its own length limit.
REQUEST_TEXT_FIELDS = ("prompt", "negative_prompt", "text")


def strip_controls(value: str) -> str:
    """`value` with control characters other than newline and tab removed (Windows and old Mac line
    ends become newlines)."""
    return _CONTROL.sub("", value.replace("\r\n", "\n").replace("\r", "\n"))


def text(name: str, value: Any, limit: int, *, strip: bool = True) -> str:
    """A free-text field as the studio keeps it: `strip_controls`, then surrounding space stripped;
    `InputError` naming the field and its limit when longer than `limit` characters. None is ""."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InputError(f"{name} must be text, not {type(value).__name__}.")
    cleaned = strip_controls(value)
    cleaned = cleaned.strip() if strip else cleaned
    if len(cleaned) > limit:
        raise InputError(f"{name} is {len(cleaned):,} characters long; the limit is {limit:,}. Shorten it.")
    return cleaned


def clean_request_text(request: Any) -> None:
    """Remove control characters from a task request's free-text fields, in place (the UI, the API,
    the CLI and Ray replicas all reach the runner, which calls this before the request's check)."""
    for f in dataclasses.fields(request):
        value = getattr(request, f.name)
        if f.name in REQUEST_TEXT_FIELDS and isinstance(value, str):
            setattr(request, f.name, strip_controls(value))
