"""Resolve where the workspace is and how to authenticate, following Databricks unified auth.

Order: the target's `host`/`profile`, then DATABRICKS_HOST / DATABRICKS_TOKEN /
DATABRICKS_CLIENT_ID + DATABRICKS_CLIENT_SECRET / DATABRICKS_CONFIG_PROFILE, then the
~/.databrickscfg profile (DEFAULT unless one is named). Pure apart from reading the config file.
Credentials are held here and in the client only; they never reach a message.
"""

from __future__ import annotations

import configparser
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from .errors import AuthError


@dataclass(frozen=True, slots=True, kw_only=True)
class Credentials:
    """A workspace URL and one way to authenticate against it. `repr` hides the secrets."""

    host: str
    token: str | None = field(default=None, repr=False)
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    source: str = ""
    """Where these came from, for messages: e.g. `profile "prod" in ~/.databrickscfg`."""

    @property
    def kind(self) -> str:
        return "oauth-m2m" if self.client_id else "pat"


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

    token = env.get("DATABRICKS_TOKEN") or section.get("token")
    client_id = env.get("DATABRICKS_CLIENT_ID") or section.get("client_id")
    client_secret = env.get("DATABRICKS_CLIENT_SECRET") or section.get("client_secret")
    if profile and section:
        token = section.get("token") or token
        client_id = section.get("client_id") or client_id
        client_secret = section.get("client_secret") or client_secret

    url = normalize_host(chosen_host)
    auth_type = env.get("DATABRICKS_AUTH_TYPE") or section.get("auth_type")
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
        return Credentials(
            host=url, client_id=client_id, client_secret=client_secret, source=source
        )
    if not token:
        raise AuthError(
            f"no credentials for {url} ({source}); set DATABRICKS_TOKEN, or "
            "DATABRICKS_CLIENT_ID and DATABRICKS_CLIENT_SECRET, or a profile in ~/.databrickscfg"
        )
    return Credentials(host=url, token=token, source=source)


def normalize_host(host: str) -> str:
    """Add https:// when no scheme is given, drop a trailing slash and :443; refuse plain http
    except on loopback addresses (the served emulator)."""
    raw = host.strip()
    if "://" not in raw:
        raw = "https://" + raw
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise AuthError(f'workspace host "{host}" is not a URL; use https://<workspace-host>')
    netloc = parts.netloc.removesuffix(":443") if parts.scheme == "https" else parts.netloc
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise AuthError(
            f'workspace host "{host}" uses plain http; use https (http is allowed only for '
            "loopback addresses such as a local emulator)"
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
