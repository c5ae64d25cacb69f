"""The CI files `servingops init --ci` writes into a user's repository, from package templates.

Pure: project facts in (targets, where the project sits in the repository), file texts out. The
GitHub workflows list targets at run time (`servingops targets`); GitLab CI and Azure Pipelines
cannot build jobs from a command's output, so their files list the targets known at init time.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import PurePosixPath

from .. import __version__
from ..project import Target

ACTION_REPOSITORY = "servingops/servingops"
"""Where the servingops action is published; `init --ci github --action` overrides it."""
PROVIDERS = ("github", "gitlab", "azure")
GITHUB_FILES = ("servingops-plan.yml", "servingops-apply.yml", "servingops-drift.yml")


@dataclass(frozen=True, slots=True, kw_only=True)
class Layout:
    """Where the project is inside the repository, and what CI should run for."""

    workdir: str
    """The project folder relative to the repository root ('.' at the root)."""
    watched: tuple[str, ...]
    """Repository paths whose changes are planned: servingops.yaml and the endpoint files."""
    branch: str = "main"


def guide() -> str:
    """The CI setup guide of this servingops version, as a user's repository can reach it."""
    return f"https://github.com/{ACTION_REPOSITORY}/blob/v{__version__}/docs/ci.md"


def default_action() -> str:
    """The action pinned to this servingops version: plan and apply must use the same one."""
    return f"{ACTION_REPOSITORY}@v{__version__}"


def render(
    provider: str, layout: Layout, *, targets: Sequence[Target], action: str
) -> dict[str, str]:
    """Repository-relative path -> file text for `provider` (github, gitlab or azure)."""
    if provider == "github":
        paths = [*layout.watched, ".github/workflows/servingops-*.yml"]
        return {
            f".github/workflows/{name}": _fill(
                _template("github", name),
                ACTION=action,
                BRANCH=layout.branch,
                WORKDIR=layout.workdir,
                PATHS="\n".join(f'      - "{p}"' for p in paths),
            )
            for name in GITHUB_FILES
        }
    chosen = _ci_targets(targets)
    if provider == "gitlab":
        matrix = "\n".join(
            f'      - {{TARGET: "{t.name}", SUFFIX: "{t.secret_suffix}", '
            f'PRUNE: "{"true" if t.prune else "false"}"}}'
            for t in chosen
        )
        text = _fill(
            _template("gitlab", "gitlab-ci.yml"),
            BRANCH=layout.branch,
            WORKDIR=layout.workdir,
            MATRIX=matrix,
        )
        return {".gitlab-ci.yml": _local_note(text, chosen)}
    if provider == "azure":
        text = _fill(
            _template("azure", "azure-pipelines.yml"),
            BRANCH=layout.branch,
            WORKDIR=layout.workdir,
            AZURE_PATHS="\n".join(f'      - "{p}"' for p in layout.watched),
            AZURE_PLAN_JOBS="".join(_azure_plan(t) for t in chosen),
            AZURE_APPLY_JOBS="".join(_azure_apply(t) for t in chosen),
            AZURE_DRIFT_JOBS="".join(_azure_drift(t) for t in chosen),
        )
        return {"azure-pipelines.yml": _local_note(text, chosen)}
    raise ValueError(f"unknown CI provider {provider!r}; use one of {', '.join(PROVIDERS)}")


def watched_paths(
    project_file: PurePosixPath, endpoints: Sequence[PurePosixPath]
) -> tuple[str, ...]:
    """Repository paths to watch: the project file, and each endpoint file or folder (`/**`)."""
    out = [project_file.as_posix()]
    for path in endpoints:
        is_file = path.suffix in (".yaml", ".yml")
        out.append(path.as_posix() if is_file else f"{path.as_posix()}/**")
    return tuple(dict.fromkeys(p.removeprefix("./") for p in out))


def _ci_targets(targets: Sequence[Target]) -> list[Target]:
    """Workspaces first; with none yet, the embedded local ones, so the file runs end to end
    before a workspace is connected (each job gets a fresh emulated workspace)."""
    remote = [t for t in targets if not t.is_local]
    return sorted(remote or targets, key=lambda t: t.name) or [
        Target(name="local", workspace="local")
    ]


def _local_note(text: str, chosen: Sequence[Target]) -> str:
    if any(not t.is_local for t in chosen):
        return text
    note = (
        "# NOTE: servingops.yaml has no workspace target yet, so the jobs below use the embedded\n"
        "# `local` workspace (a fresh emulator in each job). Replace it with your targets.\n"
    )
    return note + text


def _template(provider: str, name: str) -> str:
    return (
        resources.files("servingops.ci")
        .joinpath("templates", provider, name)
        .read_text(encoding="utf-8")
    )


def _fill(text: str, **values: str) -> str:
    values.setdefault("VERSION", __version__)
    values.setdefault("GUIDE", guide())
    for key, value in values.items():
        text = text.replace(f"@@{key}@@", value)
    return text


def _job_id(target: Target) -> str:
    return "".join(c if c.isalnum() else "_" for c in target.name)


def _azure_plan(target: Target) -> str:
    prune = " --prune" if target.prune else ""
    steps = _azure_steps(
        title=f"Plan {target.name}",
        connection=f"servingops-read-{target.name}",
        script=(
            f'servingops plan --target "{target.name}"{prune} --detailed-exitcode \\\n'
            '  --out "$(Build.ArtifactStagingDirectory)/plan.json" || test $? -eq 2'
        ),
    )
    return f"""      - job: plan_{_job_id(target)}
        displayName: plan {target.name}
        dependsOn: validate
        steps:
{_indent(steps, 10)}
          - publish: $(Build.ArtifactStagingDirectory)/plan.json
            artifact: servingops-plan-{target.name}
"""


def _azure_apply(target: Target) -> str:
    steps = _azure_steps(
        title=f"Apply the saved plan to {target.name}",
        connection=f"servingops-deploy-{target.name}",
        script=(
            f'servingops apply --target "{target.name}" \\\n'
            f'  "$(Pipeline.Workspace)/servingops-plan-{target.name}/plan.json"'
        ),
    )
    return f"""      - deployment: apply_{_job_id(target)}
        displayName: apply {target.name}
        environment: {target.environment_name}
        strategy:
          runOnce:
            deploy:
              steps:
                - checkout: self
                - download: current
                  artifact: servingops-plan-{target.name}
{_indent(steps, 16)}
"""


def _azure_drift(target: Target) -> str:
    steps = _azure_steps(
        title=f"Drift in {target.name}",
        connection=f"servingops-read-{target.name}",
        script=f"""code=0
servingops drift --target "{target.name}" || code=$?
if [ "$code" -eq 2 ]; then
  echo "##vso[task.logissue type=warning]drift found in {target.name}"
  echo "##vso[task.complete result=SucceededWithIssues;]drift found"
  exit 0
fi
exit "$code"
""",
    )
    return f"""      - job: drift_{_job_id(target)}
        displayName: drift {target.name}
        steps:
{_indent(steps, 10)}
"""


def _azure_steps(*, title: str, connection: str, script: str) -> str:
    """The steps every per-target job runs: install servingops, then `script` in an AzureCLI@2
    task logged in through the service connection `connection`."""
    return f"""- task: UsePythonVersion@0
  inputs:
    versionSpec: "3.12"
- script: pip install --quiet --disable-pip-version-check "$(SERVINGOPS_INSTALL)"
  displayName: Install servingops
- task: AzureCLI@2
  displayName: {title}
  inputs:
    azureSubscription: {connection}
    scriptType: bash
    scriptLocation: inlineScript
    workingDirectory: $(SERVINGOPS_DIR)
    inlineScript: |
{_indent(script.rstrip(), 6)}
  env:
    DATABRICKS_AUTH_TYPE: azure-cli"""


def _indent(text: str, width: int) -> str:
    return textwrap.indent(text, " " * width)
