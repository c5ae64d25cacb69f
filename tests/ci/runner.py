"""Runs GitHub Actions jobs and the servingops composite action the way a runner does.

A job's steps run in order with `if:` conditions and status functions; `run:` steps go to
`bash --noprofile --norc -eo pipefail` (GitHub's bash) with the GITHUB_* variables, the event
payload at GITHUB_EVENT_PATH, and fresh $GITHUB_OUTPUT / $GITHUB_ENV / $GITHUB_PATH /
$GITHUB_STEP_SUMMARY files, read back after each step. `uses: ./` and `uses: <owner>/servingops@
<ref>` run action.yml from this checkout as a composite action (inputs, defaults, outputs).
Three actions are stood in for: actions/checkout (git checkout of the run's commit),
actions/setup-python (puts the interpreter running the tests first on PATH) and
actions/upload-artifact (stores the zip in the fake GitHub API, as run artifacts).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .expressions import Evaluator, condition, interpolate, to_string
from .fake_github import WORKFLOW_TOKEN, FakeGitHub, zip_files

ROOT = Path(__file__).resolve().parents[2]
ACTION_NAMES = ("./", "servingops/servingops@")
STEP_TIMEOUT = 120.0


def load_yaml(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    if True in data:  # YAML 1.1 reads the bare key `on` as True
        data["on"] = data.pop(True)
    return data


@dataclass
class StepResult:
    name: str
    outcome: str
    outputs: dict[str, str] = field(default_factory=dict)
    log: str = ""


@dataclass
class JobResult:
    result: str
    outputs: dict[str, str]
    steps: list[StepResult]
    summary: str

    @property
    def log(self) -> str:
        return "\n".join(f"--- {s.name} [{s.outcome}]\n{s.log}" for s in self.steps)

    def step(self, name: str) -> StepResult:
        [found] = [s for s in self.steps if s.name == name]
        return found


@dataclass
class Event:
    """What triggered the run: `name` (pull_request, push, schedule, ...), its payload, the
    commit the run is for (GITHUB_SHA) and the ref."""

    name: str
    payload: dict[str, Any]
    sha: str
    ref: str
    inputs: dict[str, Any] = field(default_factory=dict)

    @property
    def head_sha(self) -> str:
        pr = self.payload.get("pull_request") or {}
        return str(pr.get("head", {}).get("sha") or self.sha)


@dataclass
class Runner:
    """One repository's runner: its working tree, the fake GitHub, and a scratch folder."""

    workspace: Path
    fake: FakeGitHub
    scratch: Path
    repository: str = "acme/endpoints"
    runner_env: dict[str, str] = field(default_factory=dict)
    runs: int = 0

    def run_job(
        self,
        workflow: Mapping[str, Any],
        job_id: str,
        event: Event,
        *,
        matrix: Mapping[str, Any] | None = None,
        needs: Mapping[str, Any] | None = None,
        variables: Mapping[str, str] | None = None,
        secrets: Mapping[str, str] | None = None,
        run_id: int | None = None,
    ) -> JobResult:
        """Run one job of `workflow` (one matrix entry of it, when it has a matrix); jobs of
        one workflow run share `run_id` (a new one by default)."""
        self.runs += 1
        run_id = run_id or 7000 + self.runs
        job = workflow["jobs"][job_id]
        temp = self.scratch / f"job-{self.runs}"
        (temp / "tmp").mkdir(parents=True)
        (temp / "home").mkdir()
        event_path = temp / "event.json"
        event_path.write_text(json.dumps(event.payload), encoding="utf-8")
        github = {
            "event_name": event.name,
            "event": event.payload,
            "sha": event.sha,
            "ref": event.ref,
            "repository": self.repository,
            "run_id": str(run_id),
            "server_url": "https://github.com",
            "api_url": self.fake.url,
            "workspace": str(self.workspace),
            "token": WORKFLOW_TOKEN,
            "job": job_id,
        }
        state = _JobState(
            runner=self,
            temp=temp,
            run_id=run_id,
            event=event,
            contexts={
                "github": github,
                "env": {},
                "vars": dict(variables or {}),
                "secrets": {"GITHUB_TOKEN": WORKFLOW_TOKEN, **(secrets or {})},
                "matrix": dict(matrix or {}),
                "needs": dict(needs or {}),
                "inputs": dict(event.inputs),
                "runner": {"temp": str(temp / "tmp"), "os": "Linux"},
                "strategy": {},
                "job": {},
            },
            base_env={
                "PATH": "/usr/local/bin:/usr/bin:/bin",
                "HOME": str(temp / "home"),
                "LANG": "C.UTF-8",
                "CI": "true",
                "GITHUB_ACTIONS": "true",
                "GITHUB_WORKSPACE": str(self.workspace),
                "GITHUB_REPOSITORY": self.repository,
                "GITHUB_SHA": event.sha,
                "GITHUB_REF": event.ref,
                "GITHUB_EVENT_NAME": event.name,
                "GITHUB_EVENT_PATH": str(event_path),
                "GITHUB_RUN_ID": str(run_id),
                "GITHUB_RUN_ATTEMPT": "1",
                "GITHUB_SERVER_URL": "https://github.com",
                "GITHUB_API_URL": self.fake.url,
                "GITHUB_JOB": job_id,
                "RUNNER_TEMP": str(temp / "tmp"),
                "RUNNER_OS": "Linux",
                **self.runner_env,
            },
        )
        evaluator = state.evaluator(state.contexts, failed=False)
        if not condition(job.get("if"), evaluator):
            return JobResult(result="skipped", outputs={}, steps=[], summary="")
        state.job_env = {
            k: to_string(v) for k, v in interpolate(job.get("env", {}), evaluator).items()
        }
        state.contexts["env"] = dict(state.job_env)
        defaults = job.get("defaults", {}).get("run", {})
        failed, steps_ctx, results = state.run_steps(
            job["steps"], default_dir=defaults.get("working-directory")
        )
        scope = {**state.contexts, "steps": steps_ctx}
        outputs = {
            k: to_string(v)
            for k, v in interpolate(job.get("outputs", {}), state.evaluator(scope, failed)).items()
        }
        return JobResult(
            result="failure" if failed else "success",
            outputs=outputs,
            steps=results,
            summary=state.summary,
        )


@dataclass
class _JobState:
    runner: Runner
    temp: Path
    run_id: int
    event: Event
    contexts: dict[str, Any]
    base_env: dict[str, str]
    job_env: dict[str, str] = field(default_factory=dict)
    path_prefix: list[str] = field(default_factory=list)
    summary: str = ""
    files: int = 0

    def evaluator(self, contexts: Mapping[str, Any], failed: bool) -> Evaluator:
        def status(name: str) -> bool:
            return {"always": True, "success": not failed, "failure": failed}.get(name, False)

        return Evaluator(contexts, status=status)

    def run_steps(
        self,
        steps: list[dict[str, Any]],
        *,
        inputs: Mapping[str, Any] | None = None,
        action_path: Path | None = None,
        default_dir: str | None = None,
    ) -> tuple[bool, dict[str, Any], list[StepResult]]:
        failed = False
        steps_ctx: dict[str, Any] = {}
        results: list[StepResult] = []
        for index, step in enumerate(steps):
            scope = {**self.contexts, "steps": steps_ctx}
            if inputs is not None:
                scope["inputs"] = inputs
            evaluator = self.evaluator(scope, failed)
            name = to_string(
                interpolate(
                    step.get("name") or step.get("uses") or step.get("id") or f"step {index}",
                    evaluator,
                )
            )
            if not condition(step.get("if"), evaluator):
                result = StepResult(name=name, outcome="skipped")
            else:
                env = {
                    **self.job_env,
                    **{
                        k: to_string(v)
                        for k, v in interpolate(step.get("env", {}), evaluator).items()
                    },
                }
                scope["env"] = env
                evaluator = self.evaluator(scope, failed)
                if "run" in step:
                    workdir = step.get("working-directory", default_dir)
                    result = self._run(step, name, evaluator, env, workdir, action_path)
                else:
                    result = self._uses(step, name, evaluator, env)
            results.append(result)
            if "id" in step:
                steps_ctx[step["id"]] = {
                    "outputs": result.outputs,
                    "outcome": result.outcome,
                    "conclusion": result.outcome,
                }
            if result.outcome == "failure" and not step.get("continue-on-error"):
                failed = True
        return failed, steps_ctx, results

    # run: -------------------------------------------------------------------------------------

    def _run(
        self,
        step: Mapping[str, Any],
        name: str,
        evaluator: Evaluator,
        env: Mapping[str, str],
        workdir: Any,
        action_path: Path | None,
    ) -> StepResult:
        script = to_string(interpolate(step["run"], evaluator))
        self.files += 1
        files = {
            k: self.temp / f"{k.lower()}-{self.files}"
            for k in ("OUTPUT", "ENV", "PATH", "SUMMARY", "SCRIPT")
        }
        for path in files.values():
            path.write_text("", encoding="utf-8")
        files["SCRIPT"].write_text(script, encoding="utf-8")
        full_env = {
            **self.base_env,
            **env,
            "GITHUB_OUTPUT": str(files["OUTPUT"]),
            "GITHUB_ENV": str(files["ENV"]),
            "GITHUB_PATH": str(files["PATH"]),
            "GITHUB_STEP_SUMMARY": str(files["SUMMARY"]),
        }
        full_env["PATH"] = ":".join([*self.path_prefix, self.base_env["PATH"]])
        if action_path is not None:
            full_env["GITHUB_ACTION_PATH"] = str(action_path)
        cwd = self.runner.workspace
        if workdir:
            cwd = cwd / to_string(interpolate(workdir, evaluator))
        shell = step.get("shell", "bash")
        assert shell == "bash", f"the harness runs bash steps only, not {shell!r}"
        done = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(files["SCRIPT"])],
            cwd=cwd,
            env=full_env,
            capture_output=True,
            text=True,
            timeout=STEP_TIMEOUT,
            check=False,
        )
        outputs = _key_values(files["OUTPUT"].read_text(encoding="utf-8"))
        for key, value in _key_values(files["ENV"].read_text(encoding="utf-8")).items():
            self.job_env[key] = value
        self.path_prefix[:0] = [p for p in files["PATH"].read_text().splitlines() if p]
        self.summary += files["SUMMARY"].read_text(encoding="utf-8")
        return StepResult(
            name=name,
            outcome="success" if done.returncode == 0 else "failure",
            outputs=outputs,
            log=done.stdout + done.stderr,
        )

    # uses: ------------------------------------------------------------------------------------

    def _uses(
        self, step: Mapping[str, Any], name: str, evaluator: Evaluator, env: Mapping[str, str]
    ) -> StepResult:
        uses = str(step["uses"])
        given = interpolate(step.get("with", {}), evaluator)
        if uses.startswith(ACTION_NAMES):
            return self._composite(name, given)
        action = uses.split("@", 1)[0]
        if action == "actions/checkout":
            git = ["git", "-C", str(self.runner.workspace), "checkout", "-q", "--detach"]
            done = subprocess.run(
                [*git, self.event.sha], capture_output=True, text=True, check=False
            )
            ok = done.returncode == 0
            return StepResult(name=name, outcome="success" if ok else "failure", log=done.stderr)
        if action == "actions/setup-python":
            self.path_prefix.insert(0, str(Path(sys.executable).parent))
            return StepResult(name=name, outcome="success", log=f"python {sys.version.split()[0]}")
        if action == "actions/upload-artifact":
            paths = [Path(p.strip()) for p in to_string(given["path"]).splitlines() if p.strip()]
            paths = [p if p.is_absolute() else self.runner.workspace / p for p in paths]
            missing = [p for p in paths if not p.is_file()]
            if missing:
                return StepResult(name=name, outcome="failure", log=f"no files: {missing}")
            self.runner.fake.store.add_artifact(
                to_string(given["name"]),
                zip_files(paths),
                run_id=self.run_id,
                head_sha=self.event.head_sha,
            )
            return StepResult(name=name, outcome="success", log=f"uploaded {given['name']}")
        raise AssertionError(f"the harness has no stand-in for {uses}")

    def _composite(self, name: str, given: Mapping[str, Any]) -> StepResult:
        action = load_yaml(ROOT / "action.yml")
        assert action["runs"]["using"] == "composite"
        defaults_eval = self.evaluator(self.contexts, failed=False)
        inputs: dict[str, Any] = {}
        for key, spec in action.get("inputs", {}).items():
            if key in given:
                inputs[key] = to_string(given[key])
            elif spec.get("required"):
                raise AssertionError(f"{name}: the action's required input {key!r} is missing")
            else:
                inputs[key] = to_string(interpolate(spec.get("default", ""), defaults_eval))
        unknown = set(given) - set(action.get("inputs", {}))
        assert not unknown, f"{name}: the action has no input(s) {sorted(unknown)}"
        saved_env = dict(self.job_env)
        failed, steps_ctx, results = self.run_steps(
            action["runs"]["steps"], inputs=inputs, action_path=ROOT
        )
        self.job_env = saved_env
        scope = {**self.contexts, "steps": steps_ctx, "inputs": inputs}
        evaluator = self.evaluator(scope, failed)
        outputs = {
            key: to_string(interpolate(spec["value"], evaluator))
            for key, spec in action.get("outputs", {}).items()
        }
        log = "\n".join(f"  --- {r.name} [{r.outcome}]\n{r.log}" for r in results)
        return StepResult(
            name=name, outcome="failure" if failed else "success", outputs=outputs, log=log
        )


def _key_values(text: str) -> dict[str, str]:
    """$GITHUB_OUTPUT / $GITHUB_ENV: `name=value` lines and `name<<DELIMITER` blocks."""
    out: dict[str, str] = {}
    lines = iter(text.splitlines())
    for line in lines:
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            key, delimiter = line.split("<<", 1)
            value = []
            for inner in lines:
                if inner == delimiter:
                    break
                value.append(inner)
            out[key] = "\n".join(value)
        elif "=" in line:
            key, value_ = line.split("=", 1)
            out[key] = value_
    return out
