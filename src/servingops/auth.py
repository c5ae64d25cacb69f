"""Resolve where the workspace is and how to authenticate, following Databricks unified auth.

Order: the target's `host`/`profile`, then DATABRICKS_HOST / DATABRICKS_TOKEN /
DATABRICKS_CLIENT_ID + DATABRICKS_CLIENT_SECRET / DATABRICKS_AUTH_TYPE /
DATABRICKS_CONFIG_PROFILE, then the ~/.databrickscfg profile (DEFAULT unless one is named).
PAT and OAuth M2M are native; every other auth type is recorded here and delegated to
databricks-sdk by the client (sdk_auth.py). Pure apart from reading the config file.
Credentials are held here and in the client only; they never reach a message.
"""

from __future__ import annotations

import configparser
import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from .errors import AuthError

NATIVE_AUTH_TYPES = frozenset({"pat", "oauth-m2m"})
DELEGATED_AUTH_TYPES = frozenset(
    {
        # databricks-sdk's unified-auth types (credentials_provider.py), plus azure-msi, which
        # the Go SDK and the CLI know: the installed SDK says so if it does not support one.
        "azure-cli",
        "azure-client-secret",
        "azure-devops-oidc",
        "azure-msi",
        "basic",
        "databricks-cli",
        "env-oidc",
        "external-browser",
        "file-oidc",
        "github-oidc",
        "github-oidc-azure",
        "google-credentials",
        "google-id",
        "metadata-service",
        "model-serving",
        "runtime",
        "runtime-oauth",
    }
)
AUTH_TYPES = NATIVE_AUTH_TYPES | DELEGATED_AUTH_TYPES

# Settings that only another auth type reads: with no token and no client secret, they let
# databricks-sdk detect the type (its default chain), as the Databricks CLI and SDKs do.
_OTHER_AUTH_ENV = (
    "ARM_CLIENT_ID",
    "ARM_USE_MSI",
    "DATABRICKS_AZURE_RESOURCE_ID",
    "GOOGLE_CREDENTIALS",
    "DATABRICKS_GOOGLE_SERVICE_ACCOUNT",
    "DATABRICKS_OIDC_TOKEN",
    "DATABRICKS_OIDC_TOKEN_ENV",
    "DATABRICKS_OIDC_TOKEN_FILEPATH",
    "DATABRICKS_METADATA_SERVICE_URL",
)
_OTHER_AUTH_KEYS = (
    "azure_client_id",
    "azure_use_msi",
    "azure_workspace_resource_id",
    "google_credentials",
    "google_service_account",
    "oidc_token_env",
    "oidc_token_filepath",
    "metadata_service_url",
)
_USERINFO = re.compile(r"//[^/@]*@")


@dataclass(frozen=True, slots=True, kw_only=True)
class Credentials:
    """A workspace URL and one way to authenticate against it. `repr` hides the secrets."""

    host: str
    token: str | None = field(default=None, repr=False)
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    source: str = ""
    """Where these came from, for messages: e.g. `profile "prod" in ~/.databrickscfg`."""
    auth_type: str | None = None
    """Set when databricks-sdk authenticates: the unified-auth type, or "" to let the SDK
    detect it from the settings. None for the native PAT and OAuth M2M."""
    profile: str | None = None
    config_file: str | None = None
    """The profile (and its file) the SDK should read its own settings from, if any."""

    @property
    def kind(self) -> str:
        if self.auth_type is not None:
            return self.auth_type or "databricks-sdk default"
        return "oauth-m2m" if self.client_id else "pat"

    @property
    def delegated(self) -> bool:
        return self.auth_type is not None


def resolve_credentials(
    *,
    host: str | None,
    profile: str | None,
    env: Mapping[str, str],
    home: Path,
) -> Credentials | None:
    """Credentials for a target, or None when no host is configured anywhere.

    `host`/`profile` come from the target in servingops.yaml and win over the environment.
    """
    env_host = env.get("DATABRICKS_HOST") or None
    profile = profile or env.get("DATABRICKS_CONFIG_PROFILE") or None
    config_file = Path(env.get("DATABRICKS_CONFIG_FILE") or home / ".databrickscfg")

    section: Mapping[str, str] = {}
    section_name = ""
    have_env_creds = bool(env.get("DATABRICKS_TOKEN") or env.get("DATABRICKS_CLIENT_ID"))
    # As in the SDKs: the file is only read when a profile is named or nothing else is set.
    if profile or not (host or env_host or have_env_creds):
        section, section_name = _read_profile(config_file, profile)

    chosen_host = host or (section.get("host") if profile else None) or env_host
    chosen_host = chosen_host or section.get("host")
    if not chosen_host:
        return None
    source = f'profile "{section_name}" in {config_file}' if section else "environment"
    if host and not profile:
        source = "servingops.yaml target"

    where = f'profile "{section_name}" of {config_file}'
    # A named profile wins over the environment; otherwise the environment wins over the file.
    profile_first = bool(profile and section)

    def pick(key: str, env_name: str) -> tuple[str | None, str]:
        order = [(section, key, f"{key} in {where}"), (env, env_name, env_name)]
        if not profile_first:
            order.reverse()
        for mapping, name, origin in order:
            value = mapping.get(name)
            if value:
                return value, origin
        return None, ""

    token, token_origin = pick("token", "DATABRICKS_TOKEN")
    client_id, id_origin = pick("client_id", "DATABRICKS_CLIENT_ID")
    client_secret, secret_origin = pick("client_secret", "DATABRICKS_CLIENT_SECRET")
    raw_type, _ = pick("auth_type", "DATABRICKS_AUTH_TYPE")
    host_origin = "DATABRICKS_HOST"
    if host:
        host_origin = "the target in servingops.yaml"
    elif section.get("host") and (profile or not env_host):
        host_origin = where

    url = normalize_host(chosen_host, origin=host_origin)
    auth_type = (raw_type or "").strip().lower() or None
    if auth_type is not None and auth_type not in AUTH_TYPES:
        known = ", ".join(sorted(AUTH_TYPES))
        raise AuthError(f"unknown auth type {raw_type!r} for {url} ({source}); use one of: {known}")
    native = bool(token or (client_id and client_secret))
    if auth_type in DELEGATED_AUTH_TYPES or (
        auth_type is None and not native and _names_other_auth(env, section, client_id)
    ):
        if client_id:
            _check_printable(client_id, origin=id_origin)
        return Credentials(
            host=url,
            client_id=client_id,
            auth_type=auth_type or "",
            profile=section_name or None,
            config_file=str(config_file) if section else None,
            source=source,
        )
    if auth_type == "oauth-m2m" or (client_id and client_secret and auth_type != "pat"):
        if not (client_id and client_secret):
            raise AuthError(
                f"OAuth M2M for {url} needs both DATABRICKS_CLIENT_ID and "
                "DATABRICKS_CLIENT_SECRET; set the missing one"
            )
        if token and not auth_type:
            raise AuthError(
                f"both a token and an OAuth client secret are configured for {url}; keep one, "
                "or set DATABRICKS_AUTH_TYPE to pat or oauth-m2m"
            )
        _check_printable(client_id, origin=id_origin)
        _check_printable(client_secret, origin=secret_origin)
        return Credentials(
            host=url, client_id=client_id, client_secret=client_secret, source=source
        )
    if not token:
        raise AuthError(
            f"no credentials for {url} ({source}); set DATABRICKS_TOKEN, or "
            "DATABRICKS_CLIENT_ID and DATABRICKS_CLIENT_SECRET, or an auth_type such as "
            "databricks-cli, azure-cli or github-oidc (DATABRICKS_AUTH_TYPE or the profile)"
        )
    _check_printable(token, origin=token_origin)
    return Credentials(host=url, token=token, source=source)


def _names_other_auth(
    env: Mapping[str, str], section: Mapping[str, str], client_id: str | None
) -> bool:
    """True when the settings name credentials only another unified-auth type uses (Azure,
    Google, OIDC token files, the metadata service, GitHub's OIDC token with a client id), so
    databricks-sdk's own detection should pick the type, as every Databricks tool does."""
    if any(env.get(name) for name in _OTHER_AUTH_ENV):
        return True
    if any(section.get(key) for key in _OTHER_AUTH_KEYS):
        return True
    return bool(client_id and env.get("ACTIONS_ID_TOKEN_REQUEST_URL"))


def _check_printable(value: str, *, origin: str) -> None:
    """Refuse a credential that cannot be sent in a header, naming where it came from but
    never its value: a trailing newline pasted into a CI secret is the usual culprit."""
    for char in value:
        if "!" <= char <= "~":
            continue
        if char in "\r\n":
            problem = "a line break (often a trailing newline pasted into a CI secret)"
        elif char.isspace():
            problem = "whitespace"
        elif char.isascii() or not char.isprintable():
            problem = "a control character"
        else:
            problem = "a non-ASCII character"
        raise AuthError(
            f"{origin} is malformed: it contains {problem}; credentials are printable ASCII "
            "without spaces, so remove it and retry"
        )


def normalize_host(host: str, *, origin: str = "") -> str:
    """Add https:// when no scheme is given, drop a trailing slash and :443; refuse plain http
    except on loopback addresses (the served emulator).

    Messages never echo a user name or password written into the host; `origin` (e.g.
    DATABRICKS_HOST) says where the host came from.
    """
    raw = host.strip()
    shown = _USERINFO.sub("//", raw if "://" in raw else "//" + raw).removeprefix("//")
    where = f" ({origin})" if origin else ""
    not_url = f'workspace host "{shown}"{where} is not a URL; use https://<workspace-host>'
    if not raw or any(c.isspace() or not c.isprintable() for c in raw):
        raise AuthError(not_url)
    if "://" not in raw:
        raw = "https://" + raw
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError as e:
        if "port" in str(e).lower():
            raise AuthError(
                f'workspace host "{shown}"{where} has an invalid port; use a number from 1 to '
                "65535, or none"
            ) from None
        raise AuthError(not_url) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise AuthError(not_url)
    if "@" in parts.netloc:
        bare = f"{parts.scheme}://{parts.hostname}"
        raise AuthError(
            f"workspace host {bare}{where} contains a user name or password; remove it and put "
            "the token in DATABRICKS_TOKEN or a profile instead"
        )
    if port == 0:
        raise AuthError(
            f'workspace host "{shown}"{where} has an invalid port; use a number from 1 to 65535, '
            "or none"
        )
    netloc = parts.netloc.removesuffix(":443") if parts.scheme == "https" else parts.netloc
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise AuthError(
            f'workspace host "{shown}"{where} uses plain http; use https (http is allowed only '
            "for loopback addresses such as a local emulator)"
        )
    return f"{parts.scheme}://{netloc}{parts.path.rstrip('/')}"


def is_loopback(hostname: str) -> bool:
    if hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False


def _read_profile(path: Path, profile: str | None) -> tuple[Mapping[str, str], str]:
    if not path.is_file():
        if profile:
            raise AuthError(f'profile "{profile}" was requested but {path} does not exist')
        return {}, ""
    # DEFAULT is an ordinary profile here: its keys must not leak into the other profiles.
    parser = configparser.ConfigParser(interpolation=None, default_section="\x00none")
    try:
        parser.read(path, encoding="utf-8")
    except (configparser.Error, UnicodeDecodeError) as e:
        raise AuthError(f"{path} cannot be read as an INI file ({type(e).__name__})") from None
    name = profile
    if name is None:
        default = parser.get("__settings__", "default_profile", fallback=None)
        name = default or "DEFAULT"
    if not parser.has_section(name):
        if profile:
            known = ", ".join(s for s in parser.sections() if s != "__settings__") or "none"
            raise AuthError(f'profile "{name}" not found in {path} (profiles: {known})')
        return {}, ""
    return dict(parser.items(name)), name
