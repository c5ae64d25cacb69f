"""Pure renderers: values from model.py in, strings out. Nothing here prints or does I/O."""

from __future__ import annotations


def plural(count: int, noun: str, plural_noun: str = "") -> str:
    """`1 endpoint`, `2 endpoints`; `plural_noun` for irregular plurals (`served entities`)."""
    return f"{count} {noun}" if count == 1 else f"{count} {plural_noun or noun + 's'}"
