"""A real kb server (uvicorn in a thread, on a free loopback port) for browser and HTTP-level tests."""

from __future__ import annotations

import socket
import threading
import time
from contextlib import contextmanager
from collections.abc import Iterator

import httpx
import uvicorn

from kb.settings import Settings
from web.app import create_app


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def live_server(settings: Settings) -> Iterator[str]:
    """Serve create_app(settings) until the block ends; yields the base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/login", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.2)
    else:
        server.should_exit = True
        raise RuntimeError("the kb test server did not start within 60 s")
    try:
        yield base
    finally:
        server.should_exit = True
        thread.join(timeout=10)
