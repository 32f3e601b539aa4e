"""Helpers the test modules share; no test module imports another.

- :mod:`tests.support.net`: free and hanging ports on 127.0.0.1.
- :mod:`tests.support.waiting`: wait for a condition another thread or process brings about.
- :mod:`tests.support.binaries`: the Debian binaries some tests drive (promtool, Alertmanager, Chromium).
- :mod:`tests.support.servers`: an ASGI app served by uvicorn in a thread.
- :mod:`tests.support.otlp`: an in-process OTLP receiver, and a runtime that ships to one.
- :mod:`tests.support.serve`: ``zgen-otel serve`` in a subprocess, and agent scripts that send to it.
- :mod:`tests.support.openai_server`: a tiny OpenAI-compatible chat server for the real ``openai`` client.
"""
