"""A tiny ANSI colour helper for the text renderers. Colour is opt-in: callers decide."""

from __future__ import annotations

GREEN = "32"
YELLOW = "33"
RED = "31"
MAGENTA = "35"

_BY_SYMBOL = {"+": GREEN, "~": YELLOW, "-": RED, "-/+": MAGENTA}


def paint(text: str, code: str, *, enabled: bool) -> str:
    """`text` wrapped in the ANSI escape `code` when enabled, else unchanged."""
    return f"\033[{code}m{text}\033[0m" if enabled and text else text


def symbol(sym: str, *, enabled: bool) -> str:
    """An action symbol (`+ ~ - -/+`) in its conventional colour."""
    code = _BY_SYMBOL.get(sym)
    return paint(sym, code, enabled=enabled) if code else sym
