"""Checks shared by the tasks' `Request.check`: a form value that must be a number or a whole
number, with the message a visitor reads when it is not."""
from __future__ import annotations

import math
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
