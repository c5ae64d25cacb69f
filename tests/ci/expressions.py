"""GitHub Actions expressions (`${{ ... }}`), enough of them to run servingops' workflows.

Follows docs.github.com/en/actions/reference/workflows-and-actions/expressions: literals,
context access (`a.b`, `a['b']`, `a[expr]`), `!`, `==`, `!=`, `<`, `>`, `<=`, `>=`, `&&`, `||`
(which return an operand, not a boolean), loose equality (strings compare case-insensitively,
mixed types compare as numbers), and the functions format, fromJSON, toJSON, contains,
startsWith, endsWith, always, success, failure and cancelled. Anything else raises, so a
workflow using syntax the harness does not know fails the test instead of passing silently.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from typing import Any

_TOKEN = re.compile(
    r"\s*(?:(?P<num>-?\d+(?:\.\d+)?)|(?P<str>'(?:[^']|'')*')|(?P<op>==|!=|<=|>=|&&|\|\||[!<>()\[\].,])"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_-]*|\*))"
)


class ExpressionError(ValueError):
    pass


def tokenize(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise ExpressionError(f"cannot read {text[pos:]!r} in {text!r}")
        kind = match.lastgroup or ""
        out.append((kind, match.group(kind)))
        pos = match.end()
    return out


class Evaluator:
    """Evaluates one expression against `contexts` (github, env, inputs, steps, ...)."""

    def __init__(self, contexts: Mapping[str, Any], *, status: Callable[[str], bool]) -> None:
        self.contexts = contexts
        self.status = status

    def evaluate(self, text: str) -> Any:
        self.tokens = tokenize(text)
        self.pos = 0
        value = self._or()
        if self.pos != len(self.tokens):
            raise ExpressionError(f"unexpected {self.tokens[self.pos][1]!r} in {text!r}")
        return value

    # Grammar, lowest precedence first ---------------------------------------------------------

    def _peek(self) -> str | None:
        return self.tokens[self.pos][1] if self.pos < len(self.tokens) else None

    def _take(self, value: str | None = None) -> tuple[str, str]:
        if self.pos >= len(self.tokens):
            raise ExpressionError("unexpected end of expression")
        token = self.tokens[self.pos]
        if value is not None and token[1] != value:
            raise ExpressionError(f"expected {value!r}, got {token[1]!r}")
        self.pos += 1
        return token

    def _or(self) -> Any:
        left = self._and()
        while self._peek() == "||":
            self._take()
            right = self._and()
            left = left if truthy(left) else right
        return left

    def _and(self) -> Any:
        left = self._compare()
        while self._peek() == "&&":
            self._take()
            right = self._compare()
            left = right if truthy(left) else left
        return left

    def _compare(self) -> Any:
        left = self._unary()
        while self._peek() in ("==", "!=", "<", ">", "<=", ">="):
            op = self._take()[1]
            right = self._unary()
            left = compare(op, left, right)
        return left

    def _unary(self) -> Any:
        if self._peek() == "!":
            self._take()
            return not truthy(self._unary())
        return self._postfix()

    def _postfix(self) -> Any:
        value = self._primary()
        while self._peek() in (".", "["):
            if self._take()[1] == ".":
                kind, name = self._take()
                if kind != "name":
                    raise ExpressionError(f"expected a property name, got {name!r}")
                value = index(value, name)
            else:
                key = self._or()
                self._take("]")
                value = index(value, key)
        return value

    def _primary(self) -> Any:
        kind, text = self._take()
        if kind == "num":
            return float(text) if "." in text else int(text)
        if kind == "str":
            return text[1:-1].replace("''", "'")
        if text == "(":
            value = self._or()
            self._take(")")
            return value
        if kind != "name":
            raise ExpressionError(f"unexpected {text!r}")
        if text in ("true", "false"):
            return text == "true"
        if text == "null":
            return None
        if self._peek() == "(":
            self._take()
            args = []
            while self._peek() != ")":
                args.append(self._or())
                if self._peek() == ",":
                    self._take()
            self._take(")")
            return self._call(text, args)
        if text not in self.contexts:
            raise ExpressionError(f"unknown context {text!r}")
        return self.contexts[text]

    def _call(self, name: str, args: list[Any]) -> Any:
        lowered = name.lower()
        if lowered in ("always", "success", "failure", "cancelled"):
            return self.status(lowered)
        if lowered == "format":
            template, *values = args
            return (
                re.sub(r"\{(\d+)\}", lambda m: to_string(values[int(m.group(1))]), str(template))
                .replace("{{", "{")
                .replace("}}", "}")
            )
        if lowered == "fromjson":
            return json.loads(to_string(args[0]))
        if lowered == "tojson":
            return json.dumps(args[0], indent=2)
        if lowered == "contains":
            haystack, needle = args
            if isinstance(haystack, list):
                return any(compare("==", item, needle) for item in haystack)
            return to_string(needle).lower() in to_string(haystack).lower()
        if lowered == "startswith":
            return to_string(args[0]).lower().startswith(to_string(args[1]).lower())
        if lowered == "endswith":
            return to_string(args[0]).lower().endswith(to_string(args[1]).lower())
        raise ExpressionError(f"the harness does not know the function {name}()")


def truthy(value: Any) -> bool:
    if value is None or value is False or value == "":
        return False
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value != 0 and not math.isnan(value)
    return True


def to_number(value: Any) -> float:
    if value is None:
        return 0.0
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip()) if value.strip() else 0.0
        except ValueError:
            return math.nan
    return math.nan


def compare(op: str, left: Any, right: Any) -> bool:
    if isinstance(left, str) and isinstance(right, str):
        a: Any = left.lower()
        b: Any = right.lower()
    elif type(left) is type(right) and not isinstance(left, (int, float)):
        a, b = left, right
    else:
        a, b = to_number(left), to_number(right)
    if op == "==":
        return bool(a == b)
    if op == "!=":
        return bool(a != b)
    try:
        return bool({"<": a < b, ">": a > b, "<=": a <= b, ">=": a >= b}[op])
    except TypeError:
        return False


def index(value: Any, key: Any) -> Any:
    if isinstance(value, Mapping):
        if isinstance(key, str):
            for k, v in value.items():  # property names are case-insensitive
                if str(k).lower() == key.lower():
                    return v
        return None
    if isinstance(value, list) and isinstance(key, (int, float)):
        i = int(key)
        return value[i] if 0 <= i < len(value) else None
    return None


def to_string(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


_TEMPLATE = re.compile(r"\$\{\{(.*?)\}\}", re.S)


def interpolate(value: Any, evaluator: Evaluator) -> Any:
    """A workflow value with `${{ }}` parts: a whole-value expression keeps its type (a
    matrix `include` from fromJSON stays a list); otherwise each part becomes text."""
    if isinstance(value, str):
        whole = _TEMPLATE.fullmatch(value.strip())
        if whole:
            return evaluator.evaluate(whole.group(1))
        return _TEMPLATE.sub(lambda m: to_string(evaluator.evaluate(m.group(1))), value)
    if isinstance(value, list):
        return [interpolate(v, evaluator) for v in value]
    if isinstance(value, Mapping):
        return {k: interpolate(v, evaluator) for k, v in value.items()}
    return value


def condition(text: Any, evaluator: Evaluator) -> bool:
    """A step or job `if:`; without a status function it means `success() && (...)`."""
    if text is None:
        return evaluator.status("success")
    raw = str(text).strip()
    whole = _TEMPLATE.fullmatch(raw)
    expr = whole.group(1) if whole else raw
    if not re.search(r"\b(always|success|failure|cancelled)\s*\(", expr):
        return evaluator.status("success") and truthy(evaluator.evaluate(expr))
    return truthy(evaluator.evaluate(expr))
