"""The HTTP transport of the webhook-style channels: POST a JSON body, with the URL's secrets kept out of errors.

A URL may carry a token (a Slack webhook path) or user info (``https://user:pass@host``): errors and logs
name only its scheme, host and port (:func:`redact`), and user info goes into a basic-auth header.
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

__all__ = ["post_json", "redact"]


def redact(url: str) -> str:
    """A URL safe to log: scheme, host and port only."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}{f':{parts.port}' if parts.port else ''}/…"


def _credentials(url: str) -> tuple[str, dict[str, str]]:
    """Move user info out of a URL into a basic-auth header (urllib would look it up as part of the host name)."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url, {}
    pair = f"{unquote(parts.username or '')}:{unquote(parts.password or '')}"
    bare = urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
    return bare, {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()}


def post_json(url: str, body: Any, headers: Mapping[str, str], timeout: float) -> None:
    """POST ``body`` as JSON to ``url``; the response is read and discarded.

    Args:
        url: an http(s) URL, possibly with user info (sent as basic auth) and secret path or query.
        body: anything ``json.dumps`` writes.
        headers: extra request headers (not sent on to a redirect's target).
        timeout: seconds for the connection and each read.

    Raises:
        OSError: any failure (an HTTP error status, a refused connection, a timeout...), naming the URL by
            :func:`redact` only.
    """
    data = json.dumps(body).encode()
    try:
        target, auth = _credentials(url)
        request = urllib.request.Request(target, data=data, method="POST", headers={"Content-Type": "application/json"})
        for key, value in {**auth, **headers}.items():
            request.add_unredirected_header(key, value)
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read()
    except urllib.error.HTTPError as exc:
        raise OSError(f"HTTP {exc.code} from {redact(url)}") from None
    except Exception as exc:
        reason = getattr(exc, "reason", exc)
        raise OSError(f"{type(reason).__name__} posting to {redact(url)}") from None
