"""`servingops validate` through main(): exit codes, formats, options, and the example project."""

from __future__ import annotations

import io
import json
import shutil
import tempfile
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from servingops.cli import Settings, main

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO / "tests" / "fixtures" / "invalid"


@pytest.fixture
def repo_copy(tmp_path: Path) -> Path:
    shutil.copytree(REPO / "endpoints", tmp_path / "endpoints")
    shutil.copy(REPO / "servingops.yaml", tmp_path / "servingops.yaml")
    return tmp_path


def run(cwd: Path, *args: str) -> int:
    return main(["validate", *args], settings=Settings(cwd=cwd, env={}))


def test_examples_are_valid(repo_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(repo_copy) == 0
    out, err = capsys.readouterr()
    assert out == "Valid: 3 endpoints in 3 files.\n"
    assert err == ""
    for target in ("local", "staging", "prod"):
        assert run(repo_copy, "--target", target) == 0
    assert capsys.readouterr().out.count("Valid: 3 endpoints in 3 files.") == 3


def test_errors_exit_1_sorted_with_count(
    repo_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fraud = repo_copy / "endpoints" / "fraud-scorer.yaml"
    fraud.write_text(fraud.read_text().replace("traffic_percentage: 10}", "traffic_percentage: 0}"))
    (repo_copy / "endpoints" / "zz-copy.yaml").write_text("name: text-embeddings\nfoo: 1\n")
    assert run(repo_copy) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (
        "endpoints/fraud-scorer.yaml:18:5: error: config.traffic_config.routes: traffic "
        "percentages sum to 90; they must sum to 100\n"
        "endpoints/zz-copy.yaml:1:7: error: name: endpoint name 'text-embeddings' is already "
        "used at endpoints/text-embeddings.yaml:3:7; endpoint names must be unique\n"
        "endpoints/zz-copy.yaml:2:1: error: foo: unknown key 'foo'; see the schema for the "
        "allowed keys\n"
        "3 errors in 2 files\n"
    )


def test_json_and_github_formats(repo_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (repo_copy / "endpoints" / "bad.yaml").write_text("name: bad name\n")
    assert run(repo_copy, "--format", "json") == 1
    document = json.loads(capsys.readouterr().out)
    assert document["valid"] is False
    assert document["error_count"] == 1
    assert document["diagnostics"][0]["range"] == {
        "filename": "endpoints/bad.yaml",
        "start": {"line": 1, "column": 7},
    }
    assert run(repo_copy, "--format", "github") == 1
    out, err = capsys.readouterr()
    assert out == (
        "::error file=endpoints/bad.yaml,line=1,col=7,title=servingops::name: endpoint name "
        "'bad name' may only contain letters, digits, '-' and '_'\n"
    )
    assert err == "1 error in 1 file\n"
    (repo_copy / "endpoints" / "bad.yaml").unlink()
    assert run(repo_copy, "--format", "json") == 0
    assert json.loads(capsys.readouterr().out)["valid"] is True


def test_warnings_do_not_fail(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "e.yaml").write_text(
        "name: x\nconfig:\n  served_entities:\n"
        "    - {entity_name: m.s.f, entity_version: '1', workload_size: XXL}\n"
    )
    assert run(tmp_path, "e.yaml") == 0
    out, err = capsys.readouterr()
    assert out == "Valid: 1 endpoint in 1 file (1 warning).\n"
    assert err == (
        "e.yaml:4:64: warning: config.served_entities[0].workload_size: workload_size 'XXL' "
        "is not Small, Medium or Large; it is valid only if your workspace defines that size\n"
    )
    assert run(tmp_path, "e.yaml", "--format", "github") == 0
    assert capsys.readouterr().out.startswith("::warning file=e.yaml,line=4,col=64,")


def test_vars_and_targets(repo_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (repo_copy / "endpoints" / "v.yaml").write_text("name: v-${var.suffix}\n")
    assert run(repo_copy) == 1
    assert "undefined variable 'suffix': target 'local' does not define it" in (
        capsys.readouterr().err
    )
    assert run(repo_copy, "--var", "suffix=1", "--var", "other=x=y") == 0
    assert run(repo_copy, "--var", "no-equals") == 64
    assert "expected NAME=VALUE" in capsys.readouterr().err
    assert run(repo_copy, "--target", "qa") == 64
    assert "error: unknown target 'qa'; known targets: local, prod, staging" in (
        capsys.readouterr().err
    )


def test_explicit_project_and_paths(repo_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sub = repo_copy / "sub"
    sub.mkdir()
    assert run(sub, "--project", "../servingops.yaml") == 0
    assert run(repo_copy, "endpoints/support-chat.yaml") == 0
    assert capsys.readouterr().out.endswith("Valid: 1 endpoint in 1 file.\n")
    assert run(repo_copy, "missing/") == 1
    assert capsys.readouterr().err.startswith("missing: error: no such file or folder")
    assert run(repo_copy, "--project", "nope.yaml") == 64


def test_invalid_project_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "servingops.yaml").write_text("owner: x\ntargets: [a]\n")
    assert run(tmp_path) == 1
    assert capsys.readouterr().err == (
        "servingops.yaml:2:10: error: targets: expected a mapping, got a list\n1 error in 1 file\n"
    )


@pytest.mark.parametrize("case", sorted(p.name for p in CORPUS.iterdir() if p.is_dir()))
def test_corpus_through_the_cli(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / case
    shutil.copytree(CORPUS / case, root)
    (root / "servingops.yaml").write_text(
        "endpoints: .\ndefault_target: ci\ntargets:\n  ci: {variables: {version: '3'}}\n"
    )
    assert main(["validate"], settings=Settings(cwd=root, env={})) == 1
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    assert err == (root / "expected.txt").read_text()


# --- issue 9, item 11: what validate prints never comes from outside the project or a secret --


@pytest.mark.parametrize("fmt", ["text", "json", "github"])
def test_link_out_of_the_project_is_refused_and_its_content_never_printed(
    tmp_path: Path, fmt: str, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "repo"
    (root / "endpoints").mkdir(parents=True)
    (root / "servingops.yaml").write_text("endpoints: endpoints/\nowner: o\n")
    (root / "endpoints" / "ok.yaml").write_text("name: ok\n")
    secret = tmp_path / "home" / ".netrc"
    secret.parent.mkdir()
    secret.write_text("machine example.com password hunter2-netrc\n")
    (root / "endpoints" / "leak.yaml").symlink_to(secret)
    assert run(root, "--format", fmt) == 1
    out, err = capsys.readouterr()
    assert "hunter2" not in out + err
    assert "machine" not in out + err
    assert "endpoints/leak.yaml" in out + err
    assert "leads outside the project" in out + err
    assert "ok.yaml" not in out + err


def test_dangling_link_fails_validate_and_plan_instead_of_dropping_an_endpoint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "repo"
    (root / "endpoints").mkdir(parents=True)
    (root / "servingops.yaml").write_text("endpoints: endpoints/\nowner: o\n")
    (root / "endpoints" / "ok.yaml").write_text("name: ok\n")
    (root / "endpoints" / "moved.yaml").symlink_to("../old/moved.yaml")
    assert run(root) == 1
    assert capsys.readouterr().err == (
        "endpoints/moved.yaml: error: symlink to '../old/moved.yaml' points to nothing; fix "
        "the link or delete it\n1 error in 1 file\n"
    )
    assert main(["plan", "--prune"], settings=Settings(cwd=root, env={})) == 1
    out, err = capsys.readouterr()
    assert "destroy" not in out
    assert "points to nothing" in err


@pytest.mark.parametrize("fmt", ["text", "json", "github"])
def test_a_secret_written_as_a_number_is_never_echoed(
    tmp_path: Path, fmt: str, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "e.yaml").write_text(
        (CORPUS / "secret-as-number" / "a.yaml").read_text()
        + "    - name: b\n      entity_name: a.b.c\n      entity_version: '1'\n"
        "      environment_vars: {TOKEN: 5551234567, FLAG: true}\n"
    )
    assert run(tmp_path, "e.yaml", "--format", fmt) == 1
    out, err = capsys.readouterr()
    assert "8675309123" not in out + err
    assert "5551234567" not in out + err
    assert "openai_api_key" in out + err
    assert "not shown" in out + err


SECRET_FIELDS = [
    ("openai", "openai_config", "openai_api_key"),
    ("openai", "openai_config", "microsoft_entra_client_secret"),
    ("anthropic", "anthropic_config", "anthropic_api_key"),
    ("amazon-bedrock", "amazon_bedrock_config", "aws_secret_access_key"),
    ("google-cloud-vertex-ai", "google_cloud_vertex_ai_config", "private_key"),
    ("openai", "openai_config", "openai_api_key_plaintext"),
]
SECRET_VALUES = st.one_of(
    st.integers(min_value=10**7, max_value=10**30).map(str),
    st.integers(min_value=10**7, max_value=10**12).map(lambda n: f"{n}.{n % 97}"),
    st.from_regex(r"sk-[A-Za-z0-9]{12}", fullmatch=True),
    st.from_regex(r"sk-[A-Za-z0-9]{12}", fullmatch=True).map(lambda s: f"[{s}]"),
    st.from_regex(r"sk-[A-Za-z0-9]{12}", fullmatch=True).map(lambda s: f"{{k: {s}}}"),
)


@settings(max_examples=60, deadline=None)
@given(
    field=st.sampled_from(SECRET_FIELDS),
    value=SECRET_VALUES,
    env=SECRET_VALUES,
    tag=st.sampled_from(["", "!!str ", "!!int ", "!!float "]),
)
def test_no_secret_value_reaches_any_output_format(
    field: tuple[str, str, str], value: str, env: str, tag: str
) -> None:
    """Whatever a secret field or environment variable holds, and however YAML types it,
    validate's output (every format) never repeats it."""
    provider, block, key = field
    text = (
        "name: x\nconfig:\n  served_entities:\n    - external_model:\n"
        f"        provider: {provider}\n        name: m\n        task: llm/v1/chat\n"
        f"        {block}:\n          {key}: {tag}{value}\n"
        "    - entity_name: a.b.c\n      entity_version: '1'\n"
        f"      environment_vars: {{TOKEN: {tag}{env}}}\n"
    )
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "e.yaml").write_text(text)
        for fmt in ("text", "json", "github"):
            out, err = io.StringIO(), io.StringIO()
            with redirect_stdout(out), redirect_stderr(err):
                main(["validate", "e.yaml", "--format", fmt], settings=Settings(cwd=root, env={}))
            shown = out.getvalue() + err.getvalue()
            for secret in (value, env):
                core = secret.strip("[]{}").removeprefix("k: ")
                assert core not in shown, (fmt, shown)


@pytest.mark.parametrize(
    ("tags", "where", "why"),
    [
        (
            "{servingops-rollout: x}",
            "5:8: error: tags.servingops-rollout",
            "the state of a traffic rollout",
        ),
        (
            "[{key: servingops-rollout, value: x}]",
            "5:14: error: tags[0].key",
            "the state of a traffic rollout",
        ),
        ("{servingops-applied: x}", "5:8: error: tags.servingops-applied", "what apply sent"),
        ("{servingops-owner: x}", "5:8: error: tags.servingops-owner", "from the project's owner"),
    ],
)
def test_a_reserved_tag_is_one_error_saying_what_the_tag_is_for(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], tags: str, where: str, why: str
) -> None:
    # Each reserved tag was reported once by the tag rules and, for servingops-rollout, a second
    # time by the rollout checks, on the same line (and the first called it "what apply sent").
    (tmp_path / "e.yaml").write_text(
        "name: x\nconfig:\n  served_entities:\n"
        f"    - {{entity_name: m.s.f, entity_version: '1', workload_size: Small}}\ntags: {tags}\n"
    )
    assert run(tmp_path, "e.yaml") == 1
    errors = [line for line in capsys.readouterr().err.splitlines() if ": error: " in line]
    assert len(errors) == 1, errors
    assert errors[0].startswith(f"e.yaml:{where}: tag ")
    assert f"is managed by servingops ({why}); remove it" in errors[0]
