"""The monitoring API and web page mounted into a host FastAPI app, with the request middleware.

Run: ``python examples/fastapi_app.py [PORT]`` (default 8000), then open http://127.0.0.1:8000/ops/monitoring.
Needs the ``server`` extra.
"""

from __future__ import annotations

import sys

import uvicorn
from fastapi import FastAPI

import zgen_otel
from zgen_otel.asgi import MonitoringMiddleware
from zgen_otel.http import make_app
from zgen_otel.performance import track


@track("agent.answer")
def answer(question: str) -> str:
    """The agent's work, tracked."""
    return f"you asked: {question}"


def build() -> FastAPI:
    """The host application: its own endpoint, the middleware, and zgen_otel under /ops."""
    app = FastAPI(title="my agent")

    @app.get("/ask")
    def ask(q: str) -> dict[str, str]:
        return {"answer": answer(q)}

    app.add_middleware(MonitoringMiddleware, exclude_paths=["/health"])
    app.mount("/ops", make_app())
    return app


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8000
    zgen_otel.configure()
    print(f"monitoring page: http://127.0.0.1:{port}/ops/monitoring  (the agent: http://127.0.0.1:{port}/ask?q=hi)",
          flush=True)  # fmt: skip
    uvicorn.run(build(), host="127.0.0.1", port=port)
