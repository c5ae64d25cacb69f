"""Render diagnostics as text, `terraform validate -json`-like JSON, or GitHub annotations.

Pure: a sequence of Diagnostic in, a string out. Every renderer sorts by file, line and column.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from ..model import Diagnostic, Severity
from . import plural

JSON_FORMAT_VERSION = "1.0"


def _sorted(diagnostics: Sequence[Diagnostic]) -> list[Diagnostic]:
    return sorted(diagnostics, key=Diagnostic.sort_key)


def _message(diag: Diagnostic) -> str:
    return f"{diag.pointer}: {diag.summary}" if diag.pointer else diag.summary


def summary_line(diagnostics: Sequence[Diagnostic]) -> str:
    """`N errors in M files`, plus the warning count when there are warnings."""
    errors = [d for d in diagnostics if d.is_error]
    warnings = len(diagnostics) - len(errors)
    files = len({d.source.path for d in errors if d.source})
    line = plural(len(errors), "error")
    if files:
        line += f" in {plural(files, 'file')}"
    if warnings:
        line += f" ({plural(warnings, 'warning')})"
    return line


def render_text(diagnostics: Sequence[Diagnostic], *, summary: bool = True) -> str:
    """One `file:line:col: severity: path: message` line each (detail indented below), then the
    summary line. Empty string for no diagnostics."""
    if not diagnostics:
        return ""
    lines = []
    for diag in _sorted(diagnostics):
        where = f"{diag.source}: " if diag.source else ""
        lines.append(f"{where}{diag.severity.value}: {_message(diag)}")
        lines.extend(f"  {line}" for line in diag.detail.splitlines())
    if summary:
        lines.append(summary_line(diagnostics))
    return "\n".join(lines)


def render_json(diagnostics: Sequence[Diagnostic]) -> str:
    """The shape of `terraform validate -json`, with `path` (the instance path) added."""
    ordered = _sorted(diagnostics)
    errors = sum(1 for d in ordered if d.is_error)
    items = []
    for diag in ordered:
        item: dict[str, object] = {
            "severity": diag.severity.value,
            "summary": diag.summary,
            "detail": diag.detail,
            "path": diag.pointer,
        }
        if diag.source:
            item["range"] = {
                "filename": diag.source.path,
                "start": {"line": diag.source.line, "column": diag.source.column},
            }
        items.append(item)
    document = {
        "format_version": JSON_FORMAT_VERSION,
        "valid": errors == 0,
        "error_count": errors,
        "warning_count": len(ordered) - errors,
        "diagnostics": items,
    }
    return json.dumps(document, indent=2)


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def render_github(diagnostics: Sequence[Diagnostic]) -> str:
    """GitHub Actions workflow commands: `::error file=F,line=L,col=C,title=servingops::msg`."""
    lines = []
    for diag in _sorted(diagnostics):
        command = "error" if diag.severity is Severity.ERROR else "warning"
        props = []
        if diag.source:
            props.append(f"file={_escape_property(diag.source.path)}")
            if diag.source.line:
                props.append(f"line={diag.source.line}")
                props.append(f"col={diag.source.column}")
        props.append("title=servingops")
        message = _message(diag) + (f"\n{diag.detail}" if diag.detail else "")
        lines.append(f"::{command} {','.join(props)}::{_escape_data(message)}")
    return "\n".join(lines)
