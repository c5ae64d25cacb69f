"""Smoke checks (issue 11 item 4): an endpoint file's `smoke:` queries, run by apply once the
rollout is READY; a failing one fails that endpoint's apply (exit 1) saying what failed and what
is serving, and cancels the run's prunes; `--skip-smoke` skips them loudly. `smoke` is never sent
to the API and never a plan difference; the plan lists the checks that will run.

Queries go to POST /serving-endpoints/{name}/invocations (Databricks REST reference, "Query a
serving endpoint"); JSONPath is RFC 9535 (https://www.rfc-editor.org/rfc/rfc9535).
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

from .conftest import ApplyCli, Recording, call, write_endpoint

ONE_ROW = """\
smoke:
  - name: one-row
    request: {dataframe_split: {columns: [amount], data: [[12.5]]}}
    expect:
      status: %(status)s
      max_latency_ms: 1500
      json: {"$.predictions[0]": %(value)s}
"""


def smoke(status: int = 200, value: str = '"main.ml.scorer/2"') -> str:
    return ONE_ROW % {"status": status, "value": value}


def queries(run: ApplyCli) -> list[str]:
    return [p for m, p, _ in run.transport.seen if m == "POST" and p.endswith("/invocations")]


def test_the_plan_lists_the_checks_in_every_format(run: ApplyCli, project: Path, golden) -> None:
    write_endpoint(project, "scorer", version="2", extra=smoke())
    code, out, _ = run("plan")
    assert code == 0
    golden("plan_smoke.txt", out)
    assert "    # smoke checks once READY: one-row (status 200, <= 1500 ms, 1 JSONPath)\n" in out
    _, out, _ = run("plan", "--format", "json")
    assert json.loads(out)["resource_changes"][0]["smoke"] == [
        {
            "name": "one-row",
            "entity": None,
            "request_file": None,
            "expect": {
                "status": 200,
                "max_latency_ms": 1500,
                "json": {"$.predictions[0]": "main.ml.scorer/2"},
            },
        }
    ]
    _, out, _ = run("plan", "--format", "markdown")
    assert "smoke checks once READY: one-row |" in out


def test_apply_runs_the_checks_once_ready_and_says_they_passed(
    run: ApplyCli, project: Path
) -> None:
    write_endpoint(project, "scorer", version="2", extra=smoke())
    code, out, err = run("apply", "--auto-approve")
    assert code == 0, out + err
    assert "; smoke passed: one-row (HTTP 200, 0 ms)" in out
    assert queries(run) == ["/serving-endpoints/scorer/invocations"]
    # The query went out only after a GET that saw the rollout finished.
    seen = [(m, p) for m, p, _ in run.transport.seen]
    query_at = seen.index(("POST", "/serving-endpoints/scorer/invocations"))
    assert ("GET", "/api/2.0/serving-endpoints/scorer") in seen[:query_at]


def test_smoke_is_never_a_difference_and_never_sent(run: ApplyCli, project: Path) -> None:
    write_endpoint(project, "scorer", version="2", extra=smoke())
    assert run("apply", "--auto-approve")[0] == 0
    assert run.plan_is_empty()
    write_endpoint(project, "scorer", version="2", extra=smoke(value="1"))  # another check
    assert run.plan_is_empty()
    assert run("drift")[0] == 0
    raw = run.get("scorer")
    assert raw is not None
    assert "smoke" not in json.dumps(raw)  # never sent: the create body is proven equal in
    # tests/unit/test_field_coverage.py::test_servingops_blocks_are_never_sent_or_compared


def test_a_wrong_status_fails_the_endpoint_saying_what_is_serving(
    run: ApplyCli, project: Path
) -> None:
    write_endpoint(project, "scorer", version="2", extra=smoke(status=400))
    code, out, _ = run("apply", "--auto-approve")
    assert code == 1
    assert (
        '  - endpoint "scorer": smoke check "one-row" failed: status: expected 400, got 200\n'
        "      Live: ready, serving config_version 1 (main 100%)\n"
        "      The change is live: fix the model or the check and apply again, or revert the "
        "change in git and apply (servingops query and servingops logs help to look closer)\n"
    ) in out


def test_a_slow_answer_fails_the_latency_check(run: ApplyCli, project: Path) -> None:
    write_endpoint(project, "scorer", version="2", extra=smoke())
    run.transport = SlowQueries(run, seconds=2.0)
    code, out, _ = run("apply", "--auto-approve")
    assert code == 1
    assert 'smoke check "one-row" failed: latency: expected at most 1500 ms, got 2000 ms' in out


@pytest.mark.parametrize(
    ("expected", "failure"),
    [
        (
            '"main.ml.scorer/9"',
            '$.predictions[0]: expected "main.ml.scorer/9", got "main.ml.scorer/2"',
        ),
        ("0", '$.predictions[0]: expected 0, got "main.ml.scorer/2"'),
    ],
)
def test_a_wrong_value_fails_the_jsonpath_check(
    run: ApplyCli, project: Path, expected: str, failure: str
) -> None:
    write_endpoint(project, "scorer", version="2", extra=smoke(value=expected))
    code, out, _ = run("apply", "--auto-approve")
    assert code == 1
    assert f'smoke check "one-row" failed: {failure}\n' in out


def test_a_path_with_no_match_fails(run: ApplyCli, project: Path) -> None:
    extra = smoke().replace('"$.predictions[0]"', '"$.outputs[0]"')
    write_endpoint(project, "scorer", version="2", extra=extra)
    code, out, _ = run("apply", "--auto-approve")
    assert code == 1
    assert 'failed: $.outputs[0]: expected "main.ml.scorer/2", got no match' in out


def test_skip_smoke_skips_them_loudly(run: ApplyCli, project: Path) -> None:
    write_endpoint(project, "scorer", version="2", extra=smoke(status=400))
    code, out, err = run("apply", "--auto-approve", "--skip-smoke")
    assert code == 0, out + err
    assert queries(run) == []
    assert "WARNING: --skip-smoke: 1 smoke check of scorer will NOT run." in err
    assert "WARNING: --skip-smoke: 1 smoke check of scorer did not run" in err
    assert "; 1 smoke check SKIPPED (--skip-smoke)" in out


def test_a_failed_check_cancels_the_prunes(run: ApplyCli, project: Path) -> None:
    write_endpoint(project, "old")
    assert run("apply", "--auto-approve")[0] == 0
    (project / "endpoints" / "old.yaml").unlink()
    write_endpoint(project, "scorer", version="3", extra=smoke(status=400))
    code, out, _ = run("apply", "--auto-approve", "--prune")
    assert code == 1
    assert 'Skipped (prune cancelled: endpoint "scorer" failed): old' in out
    assert run.get("old") is not None


def test_only_rollouts_run_the_checks(run: ApplyCli, project: Path) -> None:
    path = write_endpoint(project, "scorer", version="2", extra=smoke())
    assert run("apply", "--auto-approve")[0] == 0
    # A tag change rolls nothing out: no smoke check runs.
    path.write_text(path.read_text().replace("tags: {team: ml}", "tags: {team: ml2}"))
    _, out, _ = run("plan")
    assert "smoke checks once READY" not in out
    assert run("apply", "--auto-approve")[0] == 0
    assert len(queries(run)) == 1
    # A config change does.
    path.write_text(
        path.read_text()
        .replace('entity_version: "2"', 'entity_version: "3"')
        .replace('"main.ml.scorer/2"', '"main.ml.scorer/3"')
    )
    code, out, _ = run("apply", "--auto-approve")
    assert code == 0, out
    assert len(queries(run)) == 2


def test_a_start_runs_the_checks_and_a_stopped_endpoint_none(run: ApplyCli, project: Path) -> None:
    write_endpoint(project, "scorer", version="2", extra="state: running\n" + smoke())
    assert run("apply", "--auto-approve")[0] == 0
    call(run.emu, "stop_endpoint", "scorer")
    _, out, _ = run("plan")
    assert "# smoke checks once READY: one-row" in out
    code, out, _ = run("apply", "--auto-approve")
    assert code == 0, out
    assert "smoke passed: one-row" in out
    assert len(queries(run)) == 2
    write_endpoint(project, "scorer", version="2", extra="state: stopped\n" + smoke())
    _, out, _ = run("plan")
    assert "smoke checks" not in out
    assert run("apply", "--auto-approve")[0] == 0
    assert len(queries(run)) == 2


def test_a_saved_plan_runs_its_checks(run: ApplyCli, project: Path) -> None:
    write_endpoint(project, "scorer", version="2", extra=smoke(status=400))
    assert run("plan", "--out", "plan.json")[0] == 0
    write_endpoint(project, "scorer", version="2", extra=smoke())  # not what was reviewed
    code, out, _ = run("apply", "plan.json")
    assert code == 1
    assert "status: expected 400, got 200" in out


def test_a_request_file_is_read_relative_to_the_endpoint_file(run: ApplyCli, project: Path) -> None:
    (project / "endpoints" / "smoke").mkdir()
    (project / "endpoints" / "smoke" / "rows.json").write_text('{"inputs": [[1], [2]]}')
    extra = textwrap.dedent(
        """\
        smoke:
          - name: two-rows
            request_file: smoke/rows.json
            expect: {json: {"$.predictions[*]": ["main.ml.scorer/2", "main.ml.scorer/2"]}}
        """
    )
    write_endpoint(project, "scorer", version="2", extra=extra)
    _, out, _ = run("plan", "--format", "json")
    assert json.loads(out)["resource_changes"][0]["smoke"][0]["request_file"] == "smoke/rows.json"
    code, out, _ = run("apply", "--auto-approve")
    assert code == 0, out
    assert "smoke passed: two-rows" in out


BAD = """\
smoke:
  - name: a
    request: {inputs: [1]}
    request_file: rows.json
  - name: a
    request: {rows: [1]}
    entity: nobody
    expect: {json: {"$.predictions[": 1, "predictions": 2}}
  - name: c
    request_file: ../../outside.json
  - name: d
    request_file: missing.json
"""


FILES = """\
smoke:
  - name: a
    request_file: rows.json
  - name: c
    request_file: ../../outside.json
  - name: d
    request_file: missing.json
"""


def test_smoke_problems_are_located_errors(run: ApplyCli, project: Path) -> None:
    (project.parent / "outside.json").write_text('{"inputs": [1]}')
    write_endpoint(project, "scorer", extra=BAD)
    code, _, err = run("validate")
    assert code == 1
    lines = [line for line in err.splitlines() if line.startswith("endpoints/")]
    assert lines == [
        "endpoints/scorer.yaml:11:5: error: smoke[0]: a smoke check needs exactly one of "
        "request and request_file (has both)",
        "endpoints/scorer.yaml:14:11: error: smoke[1].name: smoke check 'a' is already defined "
        "at smoke[0]",
        "endpoints/scorer.yaml:15:14: error: smoke[1].request: the request has none of the query "
        "keys: dataframe_split, dataframe_records, instances, inputs, messages, prompt, input",
        "endpoints/scorer.yaml:16:13: error: smoke[1].entity: served entity 'nobody' is not in "
        "this endpoint's config (served: main)",
        'endpoints/scorer.yaml:17:21: error: smoke[1].expect.json.$.predictions[: "$.predictions[" '
        "is not a JSONPath query (RFC 9535): unexpected end of query",
        'endpoints/scorer.yaml:17:42: error: smoke[1].expect.json.predictions: "predictions" is '
        "not a JSONPath query (RFC 9535): expected 'TOKEN_ROOT', found 'TOKEN_NAME'",
    ]
    write_endpoint(project, "scorer", extra=FILES)
    code, _, err = run("validate")
    assert code == 1
    lines = [line for line in err.splitlines() if line.startswith("endpoints/")]
    assert lines == [
        "endpoints/scorer.yaml:12:19: error: smoke[0].request_file: request_file 'rows.json' "
        "does not exist (paths are relative to the endpoint file)",
        "endpoints/scorer.yaml:14:19: error: smoke[1].request_file: request_file "
        "'../../outside.json' is outside the project; keep request files inside it",
        "endpoints/scorer.yaml:16:19: error: smoke[2].request_file: request_file 'missing.json' "
        "does not exist (paths are relative to the endpoint file)",
    ]


class SlowQueries(Recording):
    """The emulator, with every query taking `seconds` on its clock (a slow model)."""

    def __init__(self, run: ApplyCli, *, seconds: float) -> None:
        super().__init__(run.emu)
        self.emu = run.emu
        self.seconds = seconds
        self.seen = run.transport.seen

    async def handle_async_request(self, request: Any) -> Any:
        if request.url.path.endswith("/invocations"):
            self.emu.advance(self.seconds)
        return await super().handle_async_request(request)
