"""The users file is strict and located: a mistake is one `file:line` error at start-up, and no
error ever prints a token (issue 11 item 5, issue 9 item 11)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from serving_emulator import UsersFileError
from serving_emulator.__main__ import main as emulator_main
from servingops.cli import main as servingops_main

from .conftest import make_emulator

SECRET = "dapi-SECRET-0123456789"


def _error(tmp_path: Path, text: str, name: str = "users.yaml") -> str:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(UsersFileError) as info:
        make_emulator(users_file=path)
    message = str(info.value)
    assert SECRET not in message
    assert "\n" not in message
    return message


def test_an_unknown_key_in_an_entry_is_an_error_with_its_line(tmp_path: Path) -> None:
    # `token:` for `tokens:` used to be ignored, so every request with that token was a 401.
    text = f"users:\n  - user_name: a@example.com\n    token: [{SECRET}]\n"
    message = _error(tmp_path, text)
    assert message.startswith(f"{tmp_path / 'users.yaml'}:3: ")
    assert "users[0]: unknown key 'token'" in message
    assert "tokens" in message  # names the keys it knows


def test_an_unknown_key_in_a_service_principal_and_at_the_top(tmp_path: Path) -> None:
    text = f"service_principals:\n  - application_id: x\n    secret: {SECRET}\n"
    assert "users.yaml:3: service_principals[0]: unknown key 'secret'" in _error(tmp_path, text)
    assert "users.yaml:2: unknown key 'user'" in _error(tmp_path, "users: []\nuser: []\n")


def test_a_yaml_syntax_error_names_the_line_but_never_prints_it(tmp_path: Path) -> None:
    text = f'users:\n  - user_name: a@example.com\n    tokens: [x, "{SECRET}]\n'
    message = _error(tmp_path, text)
    assert ":3:" in message or ":4:" in message
    assert "not valid YAML" in message


def test_a_json_syntax_error_names_the_line_but_never_prints_it(tmp_path: Path) -> None:
    text = '{"users": [\n  {"user_name": "a@example.com",\n   "tokens": ["' + SECRET + '",]}]}'
    message = _error(tmp_path, text, name="users.json")
    assert message.startswith(f"{tmp_path / 'users.json'}:3:")
    assert "not valid JSON" in message


def test_a_json_file_gets_lines_for_unknown_keys_too(tmp_path: Path) -> None:
    text = json.dumps({"users": [{"user_name": "a", "tokenz": [SECRET]}]}, indent=2)
    message = _error(tmp_path, text, name="users.json")
    assert "users.json:5: users[0]: unknown key 'tokenz'" in message


def test_wrong_types_and_duplicates_are_located(tmp_path: Path) -> None:
    text = "users:\n  - user_name: a\n    groups: admins\n"
    assert "users.yaml:3: users[0].groups must be a list" in _error(tmp_path, text)
    text = "users:\n  - user_name: a\n    user_name: b\n"
    assert "users.yaml:3: users[0]: duplicate key 'user_name'" in _error(tmp_path, text)
    text = f"users:\n  - user_name: a\n    tokens: [{SECRET}]\n  - user_name: b\n"
    text += f"    tokens: [{SECRET}]\n"
    assert "users.yaml:5: users[1].tokens[0] is already used" in _error(tmp_path, text)
    assert "users.yaml:1: users must be a list" in _error(tmp_path, "users: {a: 1}\n")


@pytest.mark.parametrize("command", ["servingops", "python -m"])
def test_both_command_lines_stop_with_one_line_and_exit_64(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    path = tmp_path / "users.yaml"
    path.write_text(f"users:\n  - user_name: a@example.com\n    token: [{SECRET}]\n")
    args = ["--users", str(path), "--port", "0"]
    code = (
        servingops_main(["emulator", "serve", *args])
        if command == "servingops"
        else emulator_main(args)
    )
    assert code == 64
    captured = capsys.readouterr()
    assert captured.out == ""
    err = captured.err.strip()
    assert err.startswith("error: ")
    assert f"{path}:3:" in err
    assert "\n" not in err
    assert SECRET not in err
