"""A tiny OpenAI-compatible server for the real ``openai`` client: ``POST /v1/chat/completions``, plain and streamed.

Every answer names the model ``<requested>-2026`` (a dated response model, as the real API does) and reports
:data:`PLAIN_USAGE` (plain answers) or :data:`STREAM_USAGE` (streams asked for ``include_usage``, in a last
chunk with no choices). The model :data:`BROKEN` answers 500. Each answer takes :data:`DELAY` seconds.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

__all__ = ["BROKEN", "DELAY", "PLAIN_USAGE", "STREAM_USAGE", "app"]

PLAIN_USAGE = (11, 7)  # (prompt, completion) tokens
STREAM_USAGE = (13, 5)
BROKEN = "gpt-broken"
DELAY = 0.02


def _usage(tokens: tuple[int, int]) -> dict[str, int]:
    return {"prompt_tokens": tokens[0], "completion_tokens": tokens[1], "total_tokens": sum(tokens)}


def _chunk(model: str, **fields: Any) -> str:
    body = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": model, **fields}
    return f"data: {json.dumps(body)}\n\n"


async def _stream(model: str, usage: bool) -> AsyncIterator[str]:
    for word in ("Hel", "lo"):
        yield _chunk(model, choices=[{"index": 0, "delta": {"role": "assistant", "content": word},
                                      "finish_reason": None}])  # fmt: skip
    yield _chunk(model, choices=[{"index": 0, "delta": {}, "finish_reason": "stop"}])
    if usage:
        yield _chunk(model, choices=[], usage=_usage(STREAM_USAGE))
    yield "data: [DONE]\n\n"


async def chat_completions(request: Request) -> Response:
    """Answer "Hello", as one JSON body or as server-sent events."""
    body = await request.json()
    await asyncio.sleep(DELAY)
    if body["model"] == BROKEN:
        return JSONResponse({"error": {"message": "the model is down", "type": "server_error"}}, status_code=500)
    model = f"{body['model']}-2026"
    if body.get("stream"):
        usage = bool((body.get("stream_options") or {}).get("include_usage"))
        return StreamingResponse(_stream(model, usage), media_type="text/event-stream")
    return JSONResponse({"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": model,
                         "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello"},
                                      "finish_reason": "stop"}],
                         "usage": _usage(PLAIN_USAGE)})  # fmt: skip


app = Starlette(routes=[Route("/v1/chat/completions", chat_completions, methods=["POST"])])
