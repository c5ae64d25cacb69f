"""Credential resolution follows Databricks unified auth; plain http only on loopback."""

from __future__ import annotations

from pathlib import Path

import pytest

from servingops.auth import normalize_host, resolve_credentials
from servingops.errors import AuthError

CFG = """\
[DEFAULT]
host = https://default.example.net
token = dapi-default

[prod]
host = prod.example.net
client_id = cid
client_secret = csecret
"""


@pytest.fixture
def home(tmp_path: Path) -> Path:
    (tmp_path / ".databrickscfg").write_text(CFG)
    return tmp_path


def test_no_host_anywhere_is_none(tmp_path: Path) -> None:
    assert resolve_credentials(host=None, profile=None, env={}, home=tmp_path) is None


def test_environment_token(home: Path) -> None:
    env = {"DATABRICKS_HOST": "env.example.net/", "DATABRICKS_TOKEN": "dapi-env"}
    creds = resolve_credentials(host=None, profile=None, env=env, home=home)
    assert creds is not None
    assert (creds.host, creds.token, creds.kind) == ("https://env.example.net", "dapi-env", "pat")


def test_default_profile_from_file(home: Path) -> None:
    creds = resolve_credentials(host=None, profile=None, env={}, home=home)
    assert creds is not None
    assert (creds.host, creds.token) == ("https://default.example.net", "dapi-default")


def test_target_profile_is_oauth_m2m(home: Path) -> None:
    creds = resolve_credentials(host=None, profile="prod", env={}, home=home)
    assert creds is not None
    assert (creds.host, creds.kind, creds.client_id) == (
        "https://prod.example.net",
        "oauth-m2m",
        "cid",
    )
    assert "csecret" not in repr(creds)


def test_env_profile_selects_section(home: Path) -> None:
    creds = resolve_credentials(
        host=None, profile=None, env={"DATABRICKS_CONFIG_PROFILE": "prod"}, home=home
    )
    assert creds is not None
    assert creds.host == "https://prod.example.net"


def test_missing_profile_names_the_known_ones(home: Path) -> None:
    with pytest.raises(AuthError, match=r'profile "nope" not found .*\(profiles: DEFAULT, prod\)'):
        resolve_credentials(host=None, profile="nope", env={}, home=home)


def test_host_without_credentials_says_what_to_set(tmp_path: Path) -> None:
    with pytest.raises(AuthError, match="set DATABRICKS_TOKEN"):
        resolve_credentials(host="https://x.example.net", profile=None, env={}, home=tmp_path)


def test_client_credentials_from_env(tmp_path: Path) -> None:
    env = {"DATABRICKS_CLIENT_ID": "id", "DATABRICKS_CLIENT_SECRET": "s"}
    creds = resolve_credentials(host="https://x.example.net", profile=None, env=env, home=tmp_path)
    assert creds is not None
    assert creds.kind == "oauth-m2m"


def test_token_and_client_secret_together_is_ambiguous(tmp_path: Path) -> None:
    env = {"DATABRICKS_TOKEN": "t", "DATABRICKS_CLIENT_ID": "i", "DATABRICKS_CLIENT_SECRET": "s"}
    with pytest.raises(AuthError, match="DATABRICKS_AUTH_TYPE"):
        resolve_credentials(host="https://x.example.net", profile=None, env=env, home=tmp_path)


@pytest.mark.parametrize(
    ("raw", "url"),
    [("adb-1.azuredatabricks.net", "https://adb-1.azuredatabricks.net"),
     ("https://h.example.net:443/", "https://h.example.net"),
     ("http://127.0.0.1:8765", "http://127.0.0.1:8765"),
     ("http://localhost:1", "http://localhost:1")],
)  # fmt: skip
def test_normalize_host(raw: str, url: str) -> None:
    assert normalize_host(raw) == url


def test_plain_http_refused_off_loopback() -> None:
    with pytest.raises(AuthError, match="uses plain http"):
        normalize_host("http://workspace.example.net")


# -- malformed credentials and hosts (issue 9, item 11): one line, never the secret ----------


@pytest.mark.parametrize(
    ("token", "problem"),
    [("dapi-abc\n", "line break"), ("dapi-abc\r\n", "line break"), ("dapi abc", "whitespace"),
     ("dapi-abc\t", "whitespace"), ("dapi-\x00abc", "control character"),
     ("dapi-äbc", "non-ASCII character")],
)  # fmt: skip
def test_malformed_env_token_is_refused_at_once_without_printing_it(
    tmp_path: Path, token: str, problem: str
) -> None:
    env = {"DATABRICKS_HOST": "https://x.example.net", "DATABRICKS_TOKEN": token}
    with pytest.raises(AuthError) as info:
        resolve_credentials(host=None, profile=None, env=env, home=tmp_path)
    message = str(info.value)
    assert "DATABRICKS_TOKEN" in message
    assert "malformed" in message
    assert problem in message
    assert "abc" not in message
    assert "\n" not in message


def test_malformed_profile_secret_names_the_profile(home: Path) -> None:
    (home / ".databrickscfg").write_text(
        "[ci]\nhost = https://ci.example.net\nclient_id = cid\nclient_secret = s3cr\u00e9t\n"
    )
    with pytest.raises(AuthError, match=r'client_secret in profile "ci".*malformed') as info:
        resolve_credentials(host=None, profile="ci", env={}, home=home)
    assert "s3cr" not in str(info.value)


@pytest.mark.parametrize(
    "raw",
    ["https://user:hunter2@adb-1.example.net", "user:hunter2@adb-1.example.net",
     "https://token:hunter2@adb-1.example.net:443/"],
)  # fmt: skip
def test_host_with_user_info_is_refused_without_the_password(raw: str) -> None:
    with pytest.raises(AuthError) as info:
        normalize_host(raw)
    message = str(info.value)
    assert "hunter2" not in message
    assert "user name or password" in message
    assert "adb-1.example.net" in message


@pytest.mark.parametrize(
    ("raw", "needle"),
    [("http://[::1", "is not a URL"), ("https://h.example.net:99999", "port"),
     ("https://h.example.net:http", "port"), ("https://h .example.net", "is not a URL"),
     ("https://", "is not a URL")],
)  # fmt: skip
def test_unparsable_hosts_are_one_line_auth_errors(raw: str, needle: str) -> None:
    with pytest.raises(AuthError, match=needle):
        normalize_host(raw)


# -- every unified-auth type (issue 9, item 9) -------------------------------------------------


@pytest.mark.parametrize(
    "auth_type",
    ["databricks-cli", "github-oidc", "azure-cli", "azure-client-secret", "azure-msi",
     "google-credentials", "google-id", "env-oidc", "file-oidc", "metadata-service"],
)  # fmt: skip
def test_profile_auth_type_is_delegated_to_the_sdk(home: Path, auth_type: str) -> None:
    (home / ".databrickscfg").write_text(
        f"[dev]\nhost = https://dev.example.net\nauth_type = {auth_type}\n"
    )
    creds = resolve_credentials(host=None, profile="dev", env={}, home=home)
    assert creds is not None
    assert (creds.kind, creds.delegated, creds.profile) == (auth_type, True, "dev")
    assert creds.config_file == str(home / ".databrickscfg")


def test_env_auth_type_keeps_the_client_id_for_federation(tmp_path: Path) -> None:
    env = {"DATABRICKS_HOST": "https://x.example.net", "DATABRICKS_AUTH_TYPE": "GitHub-OIDC",
           "DATABRICKS_CLIENT_ID": "app-1"}  # fmt: skip
    creds = resolve_credentials(host=None, profile=None, env=env, home=tmp_path)
    assert creds is not None
    assert (creds.kind, creds.client_id, creds.profile) == ("github-oidc", "app-1", None)


@pytest.mark.parametrize(
    "env",
    [{"ARM_CLIENT_ID": "a", "ARM_CLIENT_SECRET": "s", "ARM_TENANT_ID": "t"},
     {"DATABRICKS_OIDC_TOKEN": "jwt"}, {"GOOGLE_CREDENTIALS": "{}"},
     {"DATABRICKS_CLIENT_ID": "app-1", "ACTIONS_ID_TOKEN_REQUEST_URL": "https://gh"}],
)  # fmt: skip
def test_other_auth_settings_without_a_token_let_the_sdk_detect_the_type(
    tmp_path: Path, env: dict[str, str]
) -> None:
    env = {"DATABRICKS_HOST": "https://x.example.net", **env}
    creds = resolve_credentials(host=None, profile=None, env=env, home=tmp_path)
    assert creds is not None
    assert (creds.delegated, creds.kind) == (True, "databricks-sdk default")


def test_a_token_wins_over_other_auth_settings(tmp_path: Path) -> None:
    env = {"DATABRICKS_HOST": "https://x.example.net", "DATABRICKS_TOKEN": "dapi",
           "ARM_CLIENT_ID": "a"}  # fmt: skip
    creds = resolve_credentials(host=None, profile=None, env=env, home=tmp_path)
    assert creds is not None
    assert (creds.delegated, creds.kind) == (False, "pat")


def test_unknown_auth_type_lists_the_known_ones(tmp_path: Path) -> None:
    env = {"DATABRICKS_HOST": "https://x.example.net", "DATABRICKS_AUTH_TYPE": "kerberos"}
    with pytest.raises(AuthError, match=r"unknown auth type 'kerberos' .*databricks-cli"):
        resolve_credentials(host=None, profile=None, env=env, home=tmp_path)


def test_host_only_profile_says_which_auth_types_exist(home: Path) -> None:
    (home / ".databrickscfg").write_text("[x]\nhost = https://x.example.net\n")
    with pytest.raises(AuthError, match="auth_type such as databricks-cli, azure-cli"):
        resolve_credentials(host=None, profile="x", env={}, home=home)
