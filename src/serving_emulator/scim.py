"""SCIM users, groups and service principals (`/api/2.0/preview/scim/v2/...`) and who exists.

Identities come from the users file (or the one admin of quick-start mode), the objects file and
groups created through `POST /Groups`. A principal kind is authoritative when there is a users
file or when objects data lists it; otherwise it is permissive: any name exists, so a lookup by
name (`filter=userName eq "x"`, `displayName eq "x"`, `applicationId eq "x"`) finds a made-up
match when nothing declared matches. The same rule decides which principals an ACL may name.

Filters follow RFC 7644 section 3.4.2.2 (eq, ne, co, sw, ew, pr, gt, ge, lt, le, and, or, not,
parentheses); string comparisons ignore case. Lists page with 1-based `startIndex` and `count`.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from . import objectstore
from .errors import ApiError
from .objectstore import GROUP, SERVICE_PRINCIPAL, USER
from .principals import ADMINS_GROUP, USERS_GROUP, Directory, Principal, group_scim_id
from .store import Store

LIST_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"
USER_SCHEMAS = [
    "urn:ietf:params:scim:schemas:core:2.0:User",
    "urn:ietf:params:scim:schemas:extension:workspace:2.0:User",
]
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
SP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:ServicePrincipal"
MAX_COUNT = 10000
_BUILTIN_GROUPS = (ADMINS_GROUP, USERS_GROUP)

Resource = dict[str, Any]
Predicate = Callable[[Resource], bool]


class ScimError(ApiError):
    """An error answered in the SCIM shape (RFC 7644 section 3.12), which the Databricks SCIM
    API uses and databricks-sdk-py's error parser reads (`detail`, `status`, `scimType`)."""

    def __init__(self, status: int, detail: str, scim_type: str | None = None) -> None:
        super().__init__(status, f"SCIM_{status}", detail)
        self.scim_type = scim_type

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"schemas": [ERROR_SCHEMA], "detail": self.message}
        if self.scim_type:
            out["scimType"] = self.scim_type
        out["status"] = str(self.status)
        return out


@dataclass(frozen=True)
class _Kind:
    stored: str  # objectstore kind
    name_attr: str  # the attribute a lookup by name filters on
    label: str


_USERS = _Kind(USER, "userName", "User")
_GROUPS = _Kind(GROUP, "displayName", "Group")
_SPS = _Kind(SERVICE_PRINCIPAL, "applicationId", "Service principal")


class Scim:
    """Principals of one emulated workspace: the users file plus objects over the `Store`."""

    def __init__(self, store: Store, directory: Directory) -> None:
        self._store = store
        self._directory = directory

    # -- who exists --------------------------------------------------------------------------

    def _authoritative(self, kind: str) -> bool:
        if not self._directory.is_open:
            return True
        with self._store.transaction(write=False) as tx:
            return objectstore.is_authoritative(tx, kind)

    def exists(self, kind: str, name: str) -> bool:
        """Whether an ACL may name this principal (`user`, `group` or `service_principal`)."""
        if kind == "group" and name in _BUILTIN_GROUPS:
            return True
        if not self._authoritative(kind):
            return True
        if kind == "group":
            if name in self._directory.group_names():
                return True
        elif self._directory.lookup(kind, name) is not None:
            return True
        with self._store.transaction(write=False) as tx:
            return objectstore.get(tx, kind, name) is not None

    # -- resources -----------------------------------------------------------------------------

    def _principals(self, kind: Literal["user", "service_principal"]) -> list[Principal]:
        known = {p.name: p for p in self._directory.principals() if p.kind == kind}
        with self._store.transaction(write=False) as tx:
            for doc in objectstore.all_of(tx, kind):
                name = doc["user_name"] if kind == USER else doc["application_id"]
                if name not in known:
                    known[name] = Principal(
                        kind, name, doc["display_name"], frozenset({USERS_GROUP})
                    )
        return sorted(known.values(), key=lambda p: p.name)

    def _group_members(self) -> dict[str, list[Principal]]:
        members: dict[str, list[Principal]] = {}
        for kind in ("user", "service_principal"):
            for principal in self._principals(kind):
                for group in principal.groups:
                    members.setdefault(group, []).append(principal)
        return members

    def _users(self) -> list[Resource]:
        return [_user(p) for p in self._principals("user")]

    def _service_principals(self) -> list[Resource]:
        return [_service_principal(p) for p in self._principals("service_principal")]

    def _groups(self) -> list[Resource]:
        members = self._group_members()
        names = self._directory.group_names() | set(members)
        with self._store.transaction(write=False) as tx:
            stored = {doc["display_name"]: doc for doc in objectstore.all_of(tx, GROUP)}
        out = []
        for name in sorted(names | set(stored)):
            extra = [m["value"] for m in stored.get(name, {}).get("members", [])]
            out.append(_group(name, members.get(name, []), extra))
        return out

    def _resources(self, kind: _Kind) -> list[Resource]:
        if kind.stored == USER:
            return self._users()
        if kind.stored == GROUP:
            return self._groups()
        return self._service_principals()

    def _listing(self, kind: _Kind, query: Mapping[str, str]) -> Resource:
        resources = self._resources(kind)
        raw_filter = query.get("filter")
        if raw_filter:
            predicate = parse_filter(raw_filter)
            matches = [r for r in resources if predicate(r)]
            if not matches and not self._authoritative(kind.stored):
                made_up = _made_up(kind, raw_filter)
                matches = [made_up] if made_up is not None else []
            resources = matches
        resources = _sorted(resources, query.get("sortBy"), query.get("sortOrder"))
        start = _int(query, "startIndex", 1)
        count = min(_int(query, "count", MAX_COUNT), MAX_COUNT)
        page = resources[max(start, 1) - 1 :][: max(count, 0)]
        out: Resource = {
            "schemas": [LIST_SCHEMA],
            "totalResults": len(resources),
            "startIndex": max(start, 1),
            "itemsPerPage": len(page),
        }
        if page:
            out["Resources"] = [_project(r, query) for r in page]
        return out

    def _one(self, kind: _Kind, resource_id: str, query: Mapping[str, str]) -> Resource:
        for resource in self._resources(kind):
            if resource["id"] == resource_id:
                return _project(resource, query)
        raise ScimError(404, f"{kind.label} {resource_id} not found.")

    # -- routes ---------------------------------------------------------------------------------

    def list_users(self, caller: Principal, query: Mapping[str, str]) -> Resource:
        return self._listing(_USERS, query)

    def get_user(self, caller: Principal, user_id: str, query: Mapping[str, str]) -> Resource:
        return self._one(_USERS, user_id, query)

    def list_groups(self, caller: Principal, query: Mapping[str, str]) -> Resource:
        return self._listing(_GROUPS, query)

    def get_group(self, caller: Principal, group_id: str, query: Mapping[str, str]) -> Resource:
        return self._one(_GROUPS, group_id, query)

    def list_service_principals(self, caller: Principal, query: Mapping[str, str]) -> Resource:
        return self._listing(_SPS, query)

    def get_service_principal(
        self, caller: Principal, sp_id: str, query: Mapping[str, str]
    ) -> Resource:
        return self._one(_SPS, sp_id, query)

    def create_group(self, caller: Principal, body: Mapping[str, Any]) -> Resource:
        if not caller.is_admin:
            raise ScimError(403, "Only workspace admins can create groups.")
        name = body.get("displayName")
        if not isinstance(name, str) or not name.strip():
            raise ScimError(400, "displayName is required.", "invalidValue")
        raw_members = body.get("members") or []
        if not isinstance(raw_members, list) or not all(
            isinstance(m, dict) and isinstance(m.get("value"), str) for m in raw_members
        ):
            raise ScimError(400, "members must be a list of {value: id}.", "invalidValue")
        known_ids = {r["id"] for r in self._users() + self._service_principals()}
        for member in raw_members:
            if member["value"] not in known_ids:
                raise ScimError(404, f"Member {member['value']} not found.")
        if name in self._directory.group_names():
            raise ScimError(409, f"Group with name {name} already exists.", "uniqueness")
        with self._store.transaction(write=True) as tx:
            if objectstore.get(tx, GROUP, name) is not None:
                raise ScimError(409, f"Group with name {name} already exists.", "uniqueness")
            members = [{"value": m["value"]} for m in raw_members]
            objectstore.put(tx, GROUP, name, {"display_name": name, "members": members})
        return self.get_group(caller, group_scim_id(name), {})

    def delete_group(self, caller: Principal, group_id: str) -> None:
        if not caller.is_admin:
            raise ScimError(403, "Only workspace admins can delete groups.")
        with self._store.transaction(write=True) as tx:
            for doc in objectstore.all_of(tx, GROUP):
                if group_scim_id(doc["display_name"]) == group_id:
                    objectstore.delete(tx, GROUP, doc["display_name"])
                    return
        for name in self._directory.group_names():
            if group_scim_id(name) == group_id:
                raise ScimError(400, f"Group {name} is defined by the users file.")
        raise ScimError(404, f"Group {group_id} not found.")


# -- resource shapes ------------------------------------------------------------------------------


def _group_refs(principal: Principal) -> list[dict[str, str]]:
    return [
        {
            "display": g,
            "value": group_scim_id(g),
            "type": "direct",
            "$ref": f"Groups/{group_scim_id(g)}",
        }
        for g in sorted(principal.groups)
    ]


def _user(principal: Principal) -> Resource:
    return {
        "schemas": USER_SCHEMAS,
        "id": principal.scim_id,
        "userName": principal.name,
        "displayName": principal.display_name,
        "active": True,
        "emails": [{"value": principal.name, "type": "work", "primary": True}],
        "groups": _group_refs(principal),
    }


def _service_principal(principal: Principal) -> Resource:
    return {
        "schemas": [SP_SCHEMA],
        "id": principal.scim_id,
        "applicationId": principal.name,
        "displayName": principal.display_name,
        "active": True,
        "groups": _group_refs(principal),
    }


def _group(name: str, members: list[Principal], extra_member_ids: list[str]) -> Resource:
    refs = [
        {
            "display": p.display_name,
            "value": p.scim_id,
            "$ref": f"{'Users' if p.kind == 'user' else 'ServicePrincipals'}/{p.scim_id}",
        }
        for p in members
    ]
    seen = {r["value"] for r in refs}
    refs += [{"value": i} for i in extra_member_ids if i not in seen]
    out: Resource = {
        "schemas": [GROUP_SCHEMA],
        "id": group_scim_id(name),
        "displayName": name,
        "meta": {"resourceType": "WorkspaceGroup"},
    }
    if refs:
        out["members"] = refs
    return out


def _made_up(kind: _Kind, raw_filter: str) -> Resource | None:
    """For a permissive kind: the principal a plain lookup by name asks for."""
    match = re.fullmatch(
        rf'\s*({kind.name_attr}|displayName)\s+eq\s+"((?:[^"\\]|\\.)*)"\s*',
        raw_filter,
        flags=re.IGNORECASE,
    )
    if match is None:
        return None
    attr, value = match.group(1).lower(), match.group(2).replace('\\"', '"')
    if kind.stored == USER and attr == "username":
        return _user(Principal("user", value, value, frozenset({USERS_GROUP})))
    if kind.stored == GROUP:
        return _group(value, [], [])
    if kind.stored == SERVICE_PRINCIPAL:
        app_id = value if attr == "applicationid" else str(uuid.uuid5(uuid.NAMESPACE_URL, value))
        return _service_principal(
            Principal("service_principal", app_id, value, frozenset({USERS_GROUP}))
        )
    return None


def _project(resource: Resource, query: Mapping[str, str]) -> Resource:
    """Apply `attributes` / `excludedAttributes` (top-level names; `id` always stays)."""
    wanted, excluded = _names(query, "attributes"), _names(query, "excludedAttributes")
    out = {}
    for key, value in resource.items():
        lowered = key.lower()
        if key in ("id", "schemas") or (
            (not wanted or lowered in wanted) and lowered not in excluded
        ):
            out[key] = value
    return out


def _names(query: Mapping[str, str], key: str) -> set[str]:
    return {a.strip().lower() for a in query.get(key, "").split(",") if a.strip()}


def _sorted(resources: list[Resource], sort_by: str | None, order: str | None) -> list[Resource]:
    if not sort_by:
        return resources

    def key(resource: Resource) -> str:
        values = _values(resource, sort_by)
        return str(values[0] if values else "").lower()

    return sorted(resources, key=key, reverse=(order or "").lower() == "descending")


def _int(query: Mapping[str, str], key: str, default: int) -> int:
    raw = query.get(key)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ScimError(400, f"{key} must be an integer, not '{raw}'.", "invalidValue") from None


# -- filters ---------------------------------------------------------------------------------------

_TOKEN = re.compile(
    r'\s*(?:(?P<lp>\()|(?P<rp>\))|(?P<str>"(?:[^"\\]|\\.)*")|(?P<word>[A-Za-z0-9_.:$\-]+))'
)
_COMPARE = ("eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le")


def parse_filter(text: str) -> Predicate:
    """A predicate for a SCIM filter expression; ScimError(400, invalidFilter) if malformed."""
    tokens: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if match is None:
            raise _bad_filter(text, f"unexpected character at position {pos + 1}")
        kind = match.lastgroup or "word"
        tokens.append((kind, match.group(kind)))
        pos = match.end()
    parser = _FilterParser(text, tokens)
    predicate = parser.expression()
    if parser.pos != len(tokens):
        raise _bad_filter(text, f"unexpected '{tokens[parser.pos][1]}'")
    return predicate


def _bad_filter(text: str, why: str) -> ScimError:
    return ScimError(400, f"Invalid filter '{text}': {why}.", "invalidFilter")


class _FilterParser:
    def __init__(self, text: str, tokens: list[tuple[str, str]]) -> None:
        self._text = text
        self._tokens = tokens
        self.pos = 0

    def _peek(self) -> tuple[str, str] | None:
        return self._tokens[self.pos] if self.pos < len(self._tokens) else None

    def _next(self, what: str) -> tuple[str, str]:
        token = self._peek()
        if token is None:
            raise _bad_filter(self._text, f"expected {what} at the end")
        self.pos += 1
        return token

    def _keyword(self, word: str) -> bool:
        token = self._peek()
        if token is not None and token[0] == "word" and token[1].lower() == word:
            self.pos += 1
            return True
        return False

    def expression(self) -> Predicate:
        left = self._conjunction()
        while self._keyword("or"):
            right = self._conjunction()
            left = _either(left, right)
        return left

    def _conjunction(self) -> Predicate:
        left = self._factor()
        while self._keyword("and"):
            right = self._factor()
            left = _both(left, right)
        return left

    def _factor(self) -> Predicate:
        if self._keyword("not"):
            inner = self._factor()
            return lambda r: not inner(r)
        kind, value = self._next("an attribute")
        if kind == "lp":
            inner = self.expression()
            if self._next("')'")[0] != "rp":
                raise _bad_filter(self._text, "missing ')'")
            return inner
        if kind != "word":
            raise _bad_filter(self._text, f"expected an attribute, not '{value}'")
        attr = value
        op_kind, op = self._next("an operator")
        op = op.lower()
        if op_kind != "word" or op not in (*_COMPARE, "pr"):
            raise _bad_filter(self._text, f"unknown operator '{op}'")
        if op == "pr":
            return lambda r: bool(_values(r, attr))
        literal_kind, literal = self._next("a value")
        return _comparison(attr, op, _literal(self._text, literal_kind, literal))


def _either(a: Predicate, b: Predicate) -> Predicate:
    return lambda r: a(r) or b(r)


def _both(a: Predicate, b: Predicate) -> Predicate:
    return lambda r: a(r) and b(r)


def _literal(text: str, kind: str, raw: str) -> Any:
    if kind == "str":
        return re.sub(r"\\(.)", r"\1", raw[1:-1])
    lowered = raw.lower()
    if kind == "word" and lowered in ("true", "false"):
        return lowered == "true"
    if kind == "word" and lowered == "null":
        return None
    try:
        return float(raw) if "." in raw else int(raw)
    except ValueError:
        raise _bad_filter(text, f"'{raw}' is not a value (quote strings)") from None


def _values(resource: Resource, path: str) -> list[Any]:
    """The values at an attribute path (case-insensitive; multi-valued attributes flatten)."""
    current: list[Any] = [resource]
    for part in path.split("."):
        found: list[Any] = []
        for item in current:
            if isinstance(item, dict):
                for key, value in item.items():
                    if key.lower() == part.lower():
                        found.extend(value if isinstance(value, list) else [value])
        current = found
    # A complex multi-valued attribute compares by its `value` sub-attribute.
    return [v["value"] if isinstance(v, dict) and "value" in v else v for v in current]


def _comparison(attr: str, op: str, literal: Any) -> Predicate:
    def test(value: Any) -> bool:
        if isinstance(value, str) and isinstance(literal, str):
            a, b = value.lower(), literal.lower()
        else:
            a, b = value, literal
        if op == "eq":
            return bool(a == b)
        if op == "ne":
            return bool(a != b)
        if not isinstance(a, str) or not isinstance(b, str):
            if (
                op in ("gt", "ge", "lt", "le")
                and isinstance(a, int | float)
                and isinstance(b, int | float)
            ):
                return {"gt": a > b, "ge": a >= b, "lt": a < b, "le": a <= b}[op]
            return False
        return {
            "co": b in a,
            "sw": a.startswith(b),
            "ew": a.endswith(b),
            "gt": a > b,
            "ge": a >= b,
            "lt": a < b,
            "le": a <= b,
        }[op]

    def predicate(resource: Resource) -> bool:
        values = _values(resource, attr)
        if op == "ne":
            return all(test(v) for v in values) if values else literal is not None
        return any(test(v) for v in values)

    return predicate
