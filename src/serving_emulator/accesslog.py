"""One access-log line per request, in uvicorn's format, without the `logging` machinery.

uvicorn's own access log builds a `LogRecord`, copies it in the formatter and goes through the
handler lock for every request, which cost the served emulator about as much CPU as reading and
rendering an endpoint. This ASGI wrapper writes the same line (`INFO:     127.0.0.1:5000 -
"GET /path HTTP/1.1" 200 OK`, coloured like uvicorn's when the stream is a terminal) directly,
when the response starts, as uvicorn does.
"""

from __future__ import annotations

import http
import sys
import urllib.parse
from typing import TextIO

from starlette.types import ASGIApp, Message, Receive, Scope, Send

_STATUS_COLOURS = {1: 97, 2: 32, 3: 33, 4: 31, 5: 91}  # uvicorn's AccessFormatter colours


class AccessLog:
    """Wrap `app` so every HTTP response writes one line to `stream` (default: stdout)."""

    def __init__(self, app: ASGIApp, stream: TextIO | None = None) -> None:
        self.app = app
        self._stream = stream if stream is not None else sys.stdout
        self._colour = self._stream.isatty()
        # uvicorn's "%(levelprefix)s " with the level name padded to eight characters
        self._prefix = "\033[32mINFO\033[0m:    " if self._colour else "INFO:    "
        self._statuses: dict[int, str] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def logging_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                self._write(scope, message["status"])
            await send(message)

        await self.app(scope, receive, logging_send)

    def _write(self, scope: Scope, status: int) -> None:
        client = scope.get("client")
        client_addr = f"{client[0]}:{client[1]:d}" if client else ""
        path = urllib.parse.quote(scope["path"])
        if scope["query_string"]:
            path = f"{path}?{scope['query_string'].decode('ascii')}"
        request_line = f"{scope['method']} {path} HTTP/{scope['http_version']}"
        if self._colour:
            request_line = f"\033[1m{request_line}\033[0m"
        self._stream.write(
            f'{self._prefix} {client_addr} - "{request_line}" {self._status(status)}\n'
        )
        self._stream.flush()

    def _status(self, status: int) -> str:
        text = self._statuses.get(status)
        if text is None:
            try:
                phrase = http.HTTPStatus(status).phrase
            except ValueError:
                phrase = ""
            text = f"{status} {phrase}"
            colour = _STATUS_COLOURS.get(status // 100)
            if self._colour and colour is not None:
                text = f"\033[{colour}m{text}\033[0m"
            self._statuses[status] = text
        return text
