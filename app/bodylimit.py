"""Refuse request bodies too large to be a valid request, before anything parses them.

JSON parsing and validation take many times a body's size in memory: a 200 MB body took the
app from 186 to 750 MB before its 422, next to the pod's 768 Mi limit. This ASGI middleware
answers ``413`` at once when ``Content-Length`` says the body is larger than ``limit``, and
stops reading (413 as well) when a body sent without a length grows past it.
"""

from __future__ import annotations

import json
from typing import Any, Awaitable, Callable

from app.schemas import MAX_TEXT_CHARS

Scope = dict[str, Any]
Message = dict[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]],
                   Awaitable[None]]

#: Bytes per text allowed for: MAX_TEXT_CHARS characters of UTF-8 JSON with room for escapes
#: and punctuation (twice the ASCII size), plus the request's own structure.
_BYTES_PER_TEXT = 2 * MAX_TEXT_CHARS + 16
_OVERHEAD = 64 * 1024


def body_limit(max_texts: int) -> int:
    """The largest body a request of ``max_texts`` texts of MAX_TEXT_CHARS can need."""
    return max_texts * _BYTES_PER_TEXT + _OVERHEAD


def _too_large(limit: int, what: str) -> tuple[Message, Message]:
    body = json.dumps({"message": f"request body too large: {what}, and the limit is {limit:,} "
                                  f"bytes (APP_MAX_TEXTS texts of at most {MAX_TEXT_CHARS:,} "
                                  "characters); send fewer or shorter texts"}).encode()
    return ({"type": "http.response.start", "status": 413,
             "headers": [(b"content-type", b"application/json"),
                         (b"content-length", str(len(body)).encode())]},
            {"type": "http.response.body", "body": body})


class BodyLimitMiddleware:
    """Pure ASGI middleware: bodies over ``limit`` bytes get 413 and are never buffered whole."""

    def __init__(self, app: ASGIApp, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.limit:
            for message in _too_large(self.limit, f"Content-Length is {int(length):,} bytes"):
                await send(message)
            return
        # No (or a small) declared length: read up to the limit here, then replay it.
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, _replay([message]), send)
                return
            size += len(message.get("body", b""))
            if size > self.limit:
                for m in _too_large(self.limit, "the body is larger"):
                    await send(m)
                return
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        await self.app(scope, _replay([{"type": "http.request", "body": b"".join(chunks),
                                        "more_body": False}], receive), send)


def _replay(messages: list[Message], then=None):
    queue = list(messages)

    async def receive() -> Message:
        if queue:
            return queue.pop(0)
        if then is not None:
            return await then()    # e.g. http.disconnect while the app works
        return {"type": "http.disconnect"}
    return receive
