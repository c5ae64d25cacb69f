"""`servingops init`: a starter project (servingops.yaml and one example endpoint) in this folder,
and with `--ci github|gitlab|azure` the CI files that run servingops in the repository.

The files are valid as written (`servingops validate` passes) and plan against the embedded
`local` workspace with no account. Existing files are never overwritten without --force; with
--ci an existing project is kept as it is (only the CI files are written).
"""

from __future__ import annotations

import json
import os
import re
from importlib import resources
from pathlib import Path, PurePosixPath

import click
import yaml

from ..ci import scaffold
from ..project import load_project
from . import EXIT_ERROR, EXIT_OK, Settings, cli

PROJECT_TEMPLATE = """\
# yaml-language-server: $schema=schemas/project.schema.json
# servingops project: where the endpoint files are, who owns the endpoints, and where they go.
endpoints: endpoints/              # files or folders of endpoint YAML
owner: {owner}{owner_pad} # servingops-owner tag value on the endpoints it manages
default_target: local
targets:
  local:
    workspace: local               # the embedded emulated workspace (.servingops/local.db)
  # A real workspace. Credentials come from the environment (DATABRICKS_TOKEN, or
  # DATABRICKS_CLIENT_ID and DATABRICKS_CLIENT_SECRET for OAuth) or from ~/.databrickscfg.
  # prod:
  #   host: https://adb-1234567890123456.7.azuredatabricks.net
  #   # profile: prod              # or a ~/.databrickscfg profile instead of host
  #   variables: {{model_version: "1"}}
"""

EXAMPLE_TEMPLATE = """\
# yaml-language-server: $schema=../schemas/endpoint.schema.json
# A starter endpoint: one Unity Catalog model version on a small CPU workload that scales to
# zero when idle. Point entity_name at your model, then run `servingops plan`.
name: example
description: Example endpoint created by servingops init
config:
  served_entities:
    - name: current
      entity_name: main.default.example_model
      entity_version: "1"
      workload_size: Small
      scale_to_zero_enabled: true
tags: {team: example}
# permissions:                     # present = authoritative for direct grants; absent = unmanaged
#   - {group_name: data-science, permission_level: CAN_QUERY}
"""

EXAMPLE_PATH = Path("endpoints") / "example.yaml"
PROJECT_PATH = Path("servingops.yaml")
SCHEMA_NAMES = ("endpoint.schema.json", "project.schema.json")
"""Written to schemas/ (when missing, or with --force) so the files' modelines resolve."""


def owner_from_folder(folder: Path) -> str:
    """A tag-friendly owner value from a folder name: `ML Platform` -> `ml-platform`."""
    slug = re.sub(r"[^a-z0-9._-]+", "-", folder.name.lower()).strip("-._")
    return slug or "servingops"


def render_project(owner: str) -> str:
    # Quote only when YAML would read the bare value as something other than this string.
    written = owner if yaml.safe_load(owner) == owner else json.dumps(owner)
    pad = " " * max(1, 27 - len(written))
    return PROJECT_TEMPLATE.format(owner=written, owner_pad=pad)


@cli.command("init")
@click.option(
    "--force",
    is_flag=True,
    help="Overwrite the files this command writes (with --ci: the CI files).",
)
@click.option(
    "--ci",
    "provider",
    type=click.Choice(scaffold.PROVIDERS),
    default=None,
    help="Also write CI files: GitHub workflows, .gitlab-ci.yml or azure-pipelines.yml.",
)
@click.option(
    "--action",
    default=None,
    metavar="OWNER/REPO@REF",
    help=f"The servingops action the GitHub workflows use (default {scaffold.default_action()}).",
)
@click.option(
    "--branch", default="main", show_default=True, help="The default branch that CI applies."
)
@click.pass_obj
def init_command(
    settings: Settings, force: bool, provider: str | None, action: str | None, branch: str
) -> int:
    """Write a starter servingops.yaml and endpoints/example.yaml in the current folder.

    Also writes the JSON schemas the files point editors at, under schemas/ (when missing).
    With --ci, writes the CI files at the root of the git repository (an existing project is
    kept; a missing one gets the starter files first).

    Exit 0 when written, 1 when a file exists (nothing is written; use --force).
    """
    if provider is None:
        return _starter(settings, force=force)
    if not (settings.cwd / PROJECT_PATH).exists():
        code = _starter(settings, force=False, next_steps=False)
        if code != EXIT_OK:
            return code
    return _ci_files(settings, provider, force=force, action=action, branch=branch)


def _starter(settings: Settings, *, force: bool, next_steps: bool = True) -> int:
    root = settings.cwd
    files = {
        PROJECT_PATH: render_project(owner_from_folder(root.resolve())),
        EXAMPLE_PATH: EXAMPLE_TEMPLATE,
    }
    existing = [p for p in files if (root / p).exists()]
    if existing and not force:
        names = ", ".join(p.as_posix() for p in existing)
        verb = "exists" if len(existing) == 1 else "exist"
        click.echo(f"error: {names} already {verb}; nothing was written (use --force)", err=True)
        return EXIT_ERROR
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
        click.echo(f"wrote {path.as_posix()}")
    for name in SCHEMA_NAMES:
        path = Path("schemas") / name
        if (root / path).exists() and not force:
            continue
        text = resources.files("servingops").joinpath("schemas", name).read_text(encoding="utf-8")
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text, encoding="utf-8")
        click.echo(f"wrote {path.as_posix()}")
    if next_steps:
        click.echo(
            "Next: servingops validate, then servingops plan (the local target is an embedded "
            "emulated workspace; no account needed). Add .servingops/ to .gitignore."
        )
    return EXIT_OK


def _ci_files(
    settings: Settings, provider: str, *, force: bool, action: str | None, branch: str
) -> int:
    project = load_project(settings.cwd)
    root = _repository_root(settings.cwd)
    layout = scaffold.Layout(
        workdir=_relative(settings.cwd, root).as_posix(),
        watched=scaffold.watched_paths(
            _relative(settings.cwd / PROJECT_PATH, root),
            [_relative(p, root) for p in project.endpoints],
        ),
        branch=branch,
    )
    files = scaffold.render(
        provider,
        layout,
        targets=list(project.targets.values()),
        action=action or scaffold.default_action(),
    )
    existing = [p for p in files if (root / p).exists()]
    if existing and not force:
        names = ", ".join(existing)
        verb = "exists" if len(existing) == 1 else "exist"
        click.echo(f"error: {names} already {verb}; nothing was written (use --force)", err=True)
        return EXIT_ERROR
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text, encoding="utf-8")
        click.echo(f"wrote {_shown(root / path, settings.cwd)}")
    click.echo(_CI_NEXT[provider].format(guide=scaffold.guide()))
    return EXIT_OK


_CI_NEXT = {
    "github": (
        "Next: for each workspace target (servingops targets), create a GitHub environment "
        "with the target's name and the credentials described in the workflows' headers "
        "(OIDC by default; {guide}), commit, and open a pull request."
    ),
    "gitlab": (
        "Next: add the CI/CD variables described at the top of .gitlab-ci.yml (OIDC by "
        "default; {guide}), protect the environments named after your targets, and push."
    ),
    "azure": (
        "Next: create the service connections and environments named in azure-pipelines.yml "
        "({guide}), then create the pipeline from that file."
    ),
}


def _repository_root(start: Path) -> Path:
    """The nearest folder at or above `start` holding .git; `start` itself when none does."""
    here = start.resolve()
    for folder in (here, *here.parents):
        if (folder / ".git").exists():
            return folder
    return here


def _relative(path: Path, root: Path) -> PurePosixPath:
    try:
        return PurePosixPath(path.resolve().relative_to(root).as_posix())
    except ValueError:
        return PurePosixPath(os.path.relpath(path.resolve(), root).replace(os.sep, "/"))


def _shown(path: Path, cwd: Path) -> str:
    return os.path.relpath(path, cwd.resolve()).replace(os.sep, "/")
