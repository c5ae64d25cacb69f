"""Identities: the users file, bearer-token and OAuth-client lookup, and group membership.

Without a users file every non-empty token and every OAuth client id/secret is the single admin
user (see `Directory.single_admin`). The file format is described in the package docstring.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

ADMINS_GROUP = "admins"
USERS_GROUP = "users"

PrincipalKind = Literal["user", "group", "service_principal"]


@dataclass(frozen=True)
class Principal:
    """A caller: a user (name = e-mail) or a service principal (name = application id)."""

    kind: Literal["user", "service_principal"]
    name: str
    display_name: str
    groups: frozenset[str] = field(default_factory=frozenset)

    @property
    def is_admin(self) -> bool:
        return ADMINS_GROUP in self.groups

    @property
    def scim_id(self) -> str:
        return _numeric_id(f"{self.kind}:{self.name}")


def group_scim_id(group: str) -> str:
    return _numeric_id(f"group:{group}")


def _numeric_id(seed: str) -> str:
    digest = hashlib.sha256(seed.encode()).hexdigest()
    return str(int(digest[:13], 16))


@dataclass(frozen=True)
class _Client:
    secret: str
    principal: Principal


class UsersFileError(ValueError):
    """The users file is missing, unreadable or malformed."""


class Directory:
    """Who exists, which token or OAuth client is whom, and who belongs to which group."""

    def __init__(
        self,
        principals: Iterable[Principal],
        tokens: Mapping[str, Principal],
        clients: Mapping[str, _Client],
        groups: Iterable[str],
        *,
        open_admin: Principal | None = None,
    ) -> None:
        self._users = {p.name: p for p in principals if p.kind == "user"}
        self._sps = {p.name: p for p in principals if p.kind == "service_principal"}
        self._tokens = dict(tokens)
        self._clients = dict(clients)
        self._groups = set(groups) | {ADMINS_GROUP, USERS_GROUP}
        self._open_admin = open_admin

    @classmethod
    def single_admin(cls, admin_user: str) -> Directory:
        """Any non-empty token and any OAuth client act as `admin_user` (quick-start mode)."""
        admin = Principal("user", admin_user, admin_user, frozenset({ADMINS_GROUP, USERS_GROUP}))
        return cls([admin], {}, {}, [], open_admin=admin)

    @classmethod
    def from_file(cls, path: Path | str) -> Directory:
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as e:
            raise UsersFileError(f"cannot read users file {path}: {e.strerror}") from e
        try:
            data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
        except (ValueError, yaml.YAMLError) as e:
            raise UsersFileError(f"users file {path} is not valid YAML/JSON: {e}") from e
        return cls.from_mapping(data if data is not None else {}, source=str(path))

    @classmethod
    def from_mapping(cls, data: Any, *, source: str = "users file") -> Directory:
        if not isinstance(data, dict):
            raise UsersFileError(f"{source}: the top level must be a mapping")
        principals: list[Principal] = []
        tokens: dict[str, Principal] = {}
        clients: dict[str, _Client] = {}
        groups: set[str] = set(_str_list(data.get("groups"), f"{source}: groups"))
        for i, raw in enumerate(_entries(data.get("users"), f"{source}: users")):
            where = f"{source}: users[{i}]"
            name = _required_str(raw, "user_name", where)
            principal = Principal(
                "user",
                name,
                _optional_str(raw, "display_name", where) or name,
                frozenset(_str_list(raw.get("groups"), f"{where}.groups")) | {USERS_GROUP},
            )
            principals.append(principal)
            _add_tokens(tokens, raw, principal, where)
        for i, raw in enumerate(
            _entries(data.get("service_principals"), f"{source}: service_principals")
        ):
            where = f"{source}: service_principals[{i}]"
            app_id = _required_str(raw, "application_id", where)
            principal = Principal(
                "service_principal",
                app_id,
                _optional_str(raw, "display_name", where) or app_id,
                frozenset(_str_list(raw.get("groups"), f"{where}.groups")) | {USERS_GROUP},
            )
            principals.append(principal)
            _add_tokens(tokens, raw, principal, where)
            secret = _optional_str(raw, "client_secret", where)
            if secret:
                client_id = _optional_str(raw, "client_id", where) or app_id
                clients[client_id] = _Client(secret, principal)
        for p in principals:
            groups |= p.groups
        unknown = set(data) - {"users", "service_principals", "groups"}
        if unknown:
            raise UsersFileError(f"{source}: unknown keys {sorted(unknown)}")
        return cls(principals, tokens, clients, groups)

    @property
    def is_open(self) -> bool:
        """True in quick-start mode, where any credential is the admin user."""
        return self._open_admin is not None

    def by_token(self, token: str) -> Principal | None:
        if not token:
            return None
        if self._open_admin is not None:
            return self._open_admin
        return self._tokens.get(token)

    def by_client(self, client_id: str, client_secret: str) -> Principal | None:
        if not client_id or not client_secret:
            return None
        if self._open_admin is not None:
            return self._open_admin
        client = self._clients.get(client_id)
        if client is None or not hmac.compare_digest(client.secret, client_secret):
            return None
        return client.principal

    def principals(self) -> list[Principal]:
        """Every user and service principal the directory defines (SCIM lists them)."""
        return [*self._users.values(), *self._sps.values()]

    def group_names(self) -> set[str]:
        """Every group the directory defines, `admins` and `users` included."""
        return set(self._groups)

    def lookup(self, kind: str, name: str) -> Principal | None:
        if kind == "user":
            return self._users.get(name)
        if kind == "service_principal":
            return self._sps.get(name)
        return None

    def display_name(self, kind: PrincipalKind, name: str) -> str | None:
        if kind == "group":
            return None
        principal = self.lookup(kind, name)
        return principal.display_name if principal else name


def _entries(value: Any, where: str) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise UsersFileError(f"{where} must be a list of mappings")
    return value


def _str_list(value: Any, where: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise UsersFileError(f"{where} must be a list of non-empty strings")
    return value


def _required_str(raw: Mapping[str, Any], key: str, where: str) -> str:
    value = raw.get(key)
    if not isinstance(value, str) or not value:
        raise UsersFileError(f"{where}.{key} is required (a non-empty string)")
    return value


def _optional_str(raw: Mapping[str, Any], key: str, where: str) -> str | None:
    value = raw.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise UsersFileError(f"{where}.{key} must be a string")
    return value


def _add_tokens(
    tokens: dict[str, Principal], raw: Mapping[str, Any], principal: Principal, where: str
) -> None:
    for i, token in enumerate(_str_list(raw.get("tokens"), f"{where}.tokens")):
        if token in tokens:
            # Name the position, never the token itself.
            raise UsersFileError(f"{where}.tokens[{i}] is already used by another principal")
        tokens[token] = principal
