"""Diagnostic renderers: text, terraform-like JSON, GitHub annotations."""

from __future__ import annotations

import json

from servingops.model import Diagnostic, Severity, SourceRef
from servingops.render.diagnostics import render_github, render_json, render_text, summary_line

ROUTES = Diagnostic(
    severity=Severity.ERROR,
    summary="traffic percentages sum to 90; they must sum to 100",
    source=SourceRef(path="endpoints/fraud.yaml", line=22, column=5),
    pointer="config.traffic_config.routes",
)
SIZE = Diagnostic(
    severity=Severity.WARNING,
    summary="workload_size 'XL' is not Small, Medium or Large",
    source=SourceRef(path="endpoints/fraud.yaml", line=14, column=21),
    pointer="config.served_entities[0].workload_size",
)
OTHER = Diagnostic(
    severity=Severity.ERROR,
    summary="duplicate key 'name', remove one: 100%",
    source=SourceRef(path="endpoints/a.yaml", line=3, column=1),
    detail="first at line 1\nsecond at line 3",
)
NOWHERE = Diagnostic(severity=Severity.ERROR, summary="no endpoints found")


def test_text_sorted_by_file_then_line_with_summary() -> None:
    assert render_text([ROUTES, SIZE, OTHER]) == (
        "endpoints/a.yaml:3:1: error: duplicate key 'name', remove one: 100%\n"
        "  first at line 1\n"
        "  second at line 3\n"
        "endpoints/fraud.yaml:14:21: warning: config.served_entities[0].workload_size: "
        "workload_size 'XL' is not Small, Medium or Large\n"
        "endpoints/fraud.yaml:22:5: error: config.traffic_config.routes: traffic percentages "
        "sum to 90; they must sum to 100\n"
        "2 errors in 2 files (1 warning)"
    )


def test_text_edge_cases() -> None:
    assert render_text([]) == ""
    assert render_text([NOWHERE]) == "error: no endpoints found\n1 error"
    assert render_text([ROUTES], summary=False).count("\n") == 0
    assert summary_line([SIZE]) == "0 errors (1 warning)"
    assert summary_line([ROUTES, SIZE, SIZE]) == "1 error in 1 file (2 warnings)"


def test_json_like_terraform_validate() -> None:
    document = json.loads(render_json([ROUTES, SIZE, NOWHERE]))
    assert document == {
        "format_version": "1.0",
        "valid": False,
        "error_count": 2,
        "warning_count": 1,
        "diagnostics": [
            {"severity": "error", "summary": "no endpoints found", "detail": "", "path": ""},
            {
                "severity": "warning",
                "summary": "workload_size 'XL' is not Small, Medium or Large",
                "detail": "",
                "path": "config.served_entities[0].workload_size",
                "range": {
                    "filename": "endpoints/fraud.yaml",
                    "start": {"line": 14, "column": 21},
                },
            },
            {
                "severity": "error",
                "summary": "traffic percentages sum to 90; they must sum to 100",
                "detail": "",
                "path": "config.traffic_config.routes",
                "range": {
                    "filename": "endpoints/fraud.yaml",
                    "start": {"line": 22, "column": 5},
                },
            },
        ],
    }
    assert json.loads(render_json([])) == {
        "format_version": "1.0",
        "valid": True,
        "error_count": 0,
        "warning_count": 0,
        "diagnostics": [],
    }


def test_github_annotations_escape_data_and_properties() -> None:
    odd = Diagnostic(
        severity=Severity.ERROR,
        summary="bad",
        source=SourceRef(path="dir,x/a:b.yaml"),
    )
    assert render_github([ROUTES, SIZE, OTHER, NOWHERE, odd]).split("\n") == [
        "::error title=servingops::no endpoints found",
        "::error file=dir%2Cx/a%3Ab.yaml,title=servingops::bad",
        "::error file=endpoints/a.yaml,line=3,col=1,title=servingops::duplicate key 'name', "
        "remove one: 100%25%0Afirst at line 1%0Asecond at line 3",
        "::warning file=endpoints/fraud.yaml,line=14,col=21,title=servingops::"
        "config.served_entities[0].workload_size: workload_size 'XL' is not Small, Medium or "
        "Large",
        "::error file=endpoints/fraud.yaml,line=22,col=5,title=servingops::"
        "config.traffic_config.routes: traffic percentages sum to 90; they must sum to 100",
    ]
