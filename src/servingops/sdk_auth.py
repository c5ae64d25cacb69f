"""Every Databricks unified-auth type other than PAT and OAuth M2M, delegated to databricks-sdk.

The SDK's `Config` is imported here only, and only when such a type is configured, so the native
paths keep their start-up time. Its header factory refreshes tokens itself; this module calls it
off the event loop and reuses its headers for a short while. Failures become one AuthError line
that never carries a credential.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Mapping
from typing import Any

from . import __version__
from .auth import Credentials
from .errors import AuthError

HEADER_TTL = 30.0
"""Seconds the SDK's headers are reused before asking it again: its tokens live for minutes or
hours and it refreshes them ahead of expiry; a 401 drops them at once."""

_SDK_TIMEOUT = 30  # the SDK's own default is a 300 s retry budget before any error shows

# Values that must never reach a message, by variable (the SDK may quote its inputs).
_SECRET_VARIABLES = (
    "DATABRICKS_TOKEN",
    "DATABRICKS_CLIENT_SECRET",
    "DATABRICKS_PASSWORD",
    "DATABRICKS_OIDC_TOKEN",
    "ARM_CLIENT_SECRET",
    "GOOGLE_CREDENTIALS",
    "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
    "SYSTEM_ACCESSTOKEN",
)
_JWT = re.compile(r"[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*")

_HINTS = {
    "databricks-cli": "install the Databricks CLI and run `databricks auth login --host {host}`",
    "azure-cli": "run `az login` (the Azure CLI must be on PATH)",
    "azure-client-secret": "set ARM_CLIENT_ID, ARM_CLIENT_SECRET and ARM_TENANT_ID",
    "azure-msi": "run on an Azure VM or service with a managed identity, and set ARM_CLIENT_ID",
    "env-oidc": "set DATABRICKS_OIDC_TOKEN (or name the variable in DATABRICKS_OIDC_TOKEN_ENV)",
    "file-oidc": "set DATABRICKS_OIDC_TOKEN_FILEPATH to a file holding the JWT",
    "github-oidc": "run in GitHub Actions with `permissions: id-token: write` and set "
    "DATABRICKS_CLIENT_ID to the service principal's application id",
    "google-credentials": "set GOOGLE_CREDENTIALS to a service account key",
    "google-id": "set DATABRICKS_GOOGLE_SERVICE_ACCOUNT and log in with gcloud",
    "metadata-service": "set DATABRICKS_METADATA_SERVICE_URL",
}

HeaderFactory = Callable[[], Mapping[str, str]]
Clock = Callable[[], float]


class DelegatedAuth:
    """Request headers from databricks-sdk's credentials provider for `creds.auth_type`.

    `factory` replaces the SDK's header factory (tests); by default it is built on first use.
    """

    def __init__(
        self,
        creds: Credentials,
        env: Mapping[str, str],
        clock: Clock,
        *,
        factory: HeaderFactory | None = None,
    ) -> None:
        self._creds = creds
        self._env = env
        self._clock = clock
        self._factory = factory
        self._headers: Mapping[str, str] = {}
        self._fresh_until = 0.0
        self._lock = asyncio.Lock()

    async def headers(self) -> Mapping[str, str]:
        if not self._headers or self._clock() >= self._fresh_until:
            async with self._lock:
                if not self._headers or self._clock() >= self._fresh_until:
                    # The SDK blocks (HTTP with requests, CLI subprocesses): keep it off the loop.
                    self._headers = await asyncio.to_thread(self._fetch)
                    self._fresh_until = self._clock() + HEADER_TTL
        return self._headers

    def invalidate(self) -> None:
        self._headers = {}

    def _fetch(self) -> Mapping[str, str]:
        if self._factory is None:
            self._factory = header_factory(self._creds, self._env)
        try:
            headers = dict(self._factory())
        # The SDK's providers fail in open-ended ways (ValueError, OSError from a CLI or
        # requests, google-auth errors): each is a credential problem to report in one line.
        except Exception as e:
            raise AuthError(failure_message(self._creds, self._env, e)) from None
        for name, value in headers.items():
            if not (isinstance(value, str) and value.isascii() and value.isprintable()):
                raise AuthError(
                    f"{self._creds.kind} auth for {self._creds.host} produced a malformed "
                    f"{name} header; check the credentials it reads"
                )
        return headers


def header_factory(creds: Credentials, env: Mapping[str, str]) -> HeaderFactory:
    """databricks-sdk's header factory for `creds`, configured from `env` and the profile."""
    try:
        from databricks.sdk.core import Config
    except ImportError:
        raise AuthError(
            f"auth type {creds.kind} for {creds.host} needs the databricks-sdk package, which is "
            "not installed; install it (pip install databricks-sdk) or use a token or OAuth M2M"
        ) from None
    kwargs: dict[str, Any] = {
        "retry_timeout_seconds": _SDK_TIMEOUT,
        "http_timeout_seconds": _SDK_TIMEOUT,
    }
    # The SDK reads the process environment too; passing the command's own environment first
    # keeps Settings.env authoritative wherever the two differ (tests, embedding).
    for attribute in Config.attributes():
        for name in (attribute.env, *getattr(attribute, "env_aliases", ())):
            if name and env.get(name):
                kwargs.setdefault(attribute.name, env[name])
    kwargs["host"] = creds.host
    kwargs.pop("auth_type", None)
    if creds.auth_type:
        kwargs["auth_type"] = creds.auth_type
    if creds.client_id:
        kwargs["client_id"] = creds.client_id
    if creds.profile:
        kwargs["profile"] = creds.profile
        kwargs["config_file"] = creds.config_file
    try:
        config = Config(product="servingops", product_version=__version__, **kwargs)
    except Exception as e:  # see DelegatedAuth._fetch: any failure here is a credential problem
        raise AuthError(failure_message(creds, env, e)) from None
    factory: HeaderFactory = config.authenticate
    return factory


def failure_message(creds: Credentials, env: Mapping[str, str], error: BaseException) -> str:
    """One line: which auth type failed for which host, the SDK's reason, and what to do."""
    reason = " ".join(str(error).split())
    # The SDK appends its whole configuration ("... Config: host=..., Env: ...") and a docs
    # link: the type and host are already in our line.
    for cut in (". Config:", " Config:", ", please check https://"):
        reason = reason.split(cut, 1)[0]
    reason = reason.removeprefix("default auth: ").removeprefix(f"{creds.auth_type} auth: ")
    reason = reason.replace("cannot configure default credentials", "not configured")
    for name in _SECRET_VARIABLES:
        secret = env.get(name)
        if secret and len(secret) >= 4:
            reason = reason.replace(secret, "***")
    reason = _JWT.sub("***", reason)
    if len(reason) > 200:
        reason = reason[:197] + "..."
    reason = reason.rstrip(". ")
    hint = _HINTS.get(creds.auth_type or "", "see https://docs.databricks.com/dev-tools/auth")
    return (
        f"{creds.kind} auth for {creds.host} failed: {reason or 'no reason given'}; "
        f"{hint.format(host=creds.host)}"
    )
