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
        """Load a users file; every mistake is a one-line `UsersFileError` naming `file:line`.

        Unknown keys are errors (a misspelt `tokens:` would otherwise make every request with
        those tokens a 401), and no message ever quotes the file's content: it holds tokens
        and client secrets.
        """
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            reason = e.strerror if isinstance(e, OSError) else "it is not UTF-8 text"
            raise UsersFileError(f"cannot read users file {path}: {reason}") from None
        data, lines = _load_located(text, path)
        return cls.from_mapping(data if data is not None else {}, source=str(path), lines=lines)

    @classmethod
    def from_mapping(
        cls,
        data: Any,
        *,
        source: str = "users file",
        lines: Mapping[tuple[str | int, ...], int] | None = None,
    ) -> Directory:
        spot = _Locator(source, lines or {})
        if not isinstance(data, dict):
            raise UsersFileError(spot.at((), "the top level must be a mapping"))
        spot.known_keys(data, (), _TOP_KEYS)
        principals: list[Principal] = []
        tokens: dict[str, Principal] = {}
        clients: dict[str, _Client] = {}
        groups: set[str] = set(_str_list(data.get("groups"), spot, ("groups",)))
        for kind, section, name_key, keys in _SECTIONS:
            for i, raw in enumerate(_entries(data.get(section), spot, (section,))):
                where = (section, i)
                spot.known_keys(raw, where, keys)
                name = _required_str(raw, name_key, spot, where)
                principal = Principal(
                    kind,
                    name,
                    _optional_str(raw, "display_name", spot, where) or name,
                    frozenset(_str_list(raw.get("groups"), spot, (*where, "groups")))
                    | {USERS_GROUP},
                )
                principals.append(principal)
                _add_tokens(tokens, raw, principal, spot, where)
                secret = _optional_str(raw, "client_secret", spot, where)  # service principals
                if secret:
                    client_id = _optional_str(raw, "client_id", spot, where) or name
                    clients[client_id] = _Client(secret, principal)
        for p in principals:
            groups |= p.groups
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


_TOP_KEYS = ("users", "service_principals", "groups")
_USER_KEYS = ("user_name", "display_name", "groups", "tokens")
_SP_KEYS = ("application_id", "display_name", "client_secret", "client_id", "tokens", "groups")
# (principal kind, users-file section, the key naming it, the keys an entry may have)
_SECTIONS: tuple[tuple[Literal["user", "service_principal"], str, str, tuple[str, ...]], ...] = (
    ("user", "users", "user_name", _USER_KEYS),
    ("service_principal", "service_principals", "application_id", _SP_KEYS),
)

KeyPath = tuple[str | int, ...]


class _Locator:
    """Turns a path in the users file, `("users", 0, "tokens")`, into a located message:
    `file:line: users[0].tokens ...`."""

    def __init__(self, source: str, lines: Mapping[KeyPath, int]) -> None:
        self._source = source
        self._lines = lines

    def at(self, path: KeyPath, message: str) -> str:
        line = None
        for n in range(len(path), -1, -1):  # the nearest located ancestor
            line = self._lines.get(path[:n])
            if line is not None:
                break
        prefix = f"{self._source}:{line}" if line is not None else self._source
        return f"{prefix}: {message}"

    def known_keys(self, raw: Mapping[str, Any], path: KeyPath, known: tuple[str, ...]) -> None:
        for key in raw:
            if key not in known:
                shown = key if isinstance(key, str) else repr(key)
                label = f"{_dotted(path)}: " if path else ""
                raise UsersFileError(
                    self.at(
                        (*path, key),
                        f"{label}unknown key '{shown[:40]}' (expected one of: "
                        f"{', '.join(sorted(known))})",
                    )
                )


def _dotted(path: KeyPath) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def _load_located(text: str, path: Path) -> tuple[Any, dict[KeyPath, int]]:
    """Parse the file and record the line of every mapping key and list item.

    JSON files are parsed as JSON; their lines come from reading the same text as YAML (JSON is
    valid YAML in practice), and are simply absent if that fails. Errors name the position and
    the kind of problem, never the offending text.
    """
    if path.suffix == ".json":
        try:
            data = json.loads(text)
        except ValueError as e:
            if isinstance(e, json.JSONDecodeError):
                raise UsersFileError(
                    f"{path}:{e.lineno}:{e.colno}: not valid JSON: {e.msg}"
                ) from None
            raise UsersFileError(f"{path}: not valid JSON") from None
        try:
            node = yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.YAMLError:
            return data, {}
        return data, _lines(node, path, check_duplicates=False)
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        raise UsersFileError(f"{where}: not valid YAML: {e.problem or e.context}") from None
    except yaml.YAMLError:
        raise UsersFileError(f"{path}: not valid YAML") from None
    return data, _lines(node, path, check_duplicates=True)


def _lines(node: yaml.Node | None, path: Path, *, check_duplicates: bool) -> dict[KeyPath, int]:
    lines: dict[KeyPath, int] = {}
    stack: list[tuple[KeyPath, yaml.Node]] = [((), node)] if node is not None else []
    while stack:
        where, current = stack.pop()
        lines.setdefault(where, current.start_mark.line + 1)
        if isinstance(current, yaml.MappingNode):
            seen: set[str] = set()
            for key_node, value_node in current.value:
                key = str(key_node.value)
                if check_duplicates and key in seen:
                    label = f"{_dotted(where)}: " if where else ""
                    raise UsersFileError(
                        f"{path}:{key_node.start_mark.line + 1}: {label}duplicate key '{key[:40]}'"
                    )
                seen.add(key)
                lines[(*where, key)] = key_node.start_mark.line + 1
                stack.append(((*where, key), value_node))
        elif isinstance(current, yaml.SequenceNode):
            for i, item in enumerate(current.value):
                lines[(*where, i)] = item.start_mark.line + 1
                stack.append(((*where, i), item))
    return lines


def _entries(value: Any, spot: _Locator, path: KeyPath) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise UsersFileError(spot.at(path, f"{_dotted(path)} must be a list of mappings"))
    return value


def _str_list(value: Any, spot: _Locator, path: KeyPath) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise UsersFileError(spot.at(path, f"{_dotted(path)} must be a list of non-empty strings"))
    return value


def _required_str(raw: Mapping[str, Any], key: str, spot: _Locator, path: KeyPath) -> str:
    value = raw.get(key)
    if not isinstance(value, str) or not value:
        raise UsersFileError(
            spot.at((*path, key), f"{_dotted((*path, key))} is required (a non-empty string)")
        )
    return value


def _optional_str(raw: Mapping[str, Any], key: str, spot: _Locator, path: KeyPath) -> str | None:
    value = raw.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise UsersFileError(spot.at((*path, key), f"{_dotted((*path, key))} must be a string"))
    return value


def _add_tokens(
    tokens: dict[str, Principal],
    raw: Mapping[str, Any],
    principal: Principal,
    spot: _Locator,
    path: KeyPath,
) -> None:
    for i, token in enumerate(_str_list(raw.get("tokens"), spot, (*path, "tokens"))):
        if token in tokens:
            # Name the position, never the token itself.
            where = (*path, "tokens", i)
            raise UsersFileError(
                spot.at(where, f"{_dotted(where)} is already used by another principal")
            )
        tokens[token] = principal
