"""Running an ASGI app under uvicorn: the production server and an in-process one for tools.

uvloop and httptools are used when installed (``uvicorn[standard]`` brings them); they are what
the benchmark measures. Access logs are off: at thousands of webhooks per second they would
cost more than the work, and ``/metrics`` counts every outcome.
"""

from __future__ import annotations

import asyncio
import importlib.util
import socket
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import uvicorn

from flexfulfill.web.app import MerchantApp

T = TypeVar("T")


def server_config(app: MerchantApp, host: str, port: int) -> uvicorn.Config:
    """uvicorn settings for ``app`` in this process (the loop is chosen by :func:`run`)."""
    return uvicorn.Config(app, **{**worker_options(host, port), "loop": "none"})


def worker_options(host: str, port: int) -> dict[str, Any]:
    """uvicorn settings: fastest available loop and parser, lifespan on, no access log."""
    return {
        "host": host,
        "port": port,
        "loop": "uvloop" if _installed("uvloop") else "asyncio",
        "http": "httptools" if _installed("httptools") else "h11",
        "lifespan": "on",
        "access_log": False,
        "log_level": "warning",
        "server_header": False,
        "proxy_headers": False,  # the receiver uses no client address; skip the middleware
        "timeout_graceful_shutdown": 10,
    }


def run(main: Coroutine[Any, Any, T]) -> T:
    """Run ``main`` on a uvloop event loop when uvloop is installed, else asyncio's."""
    loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = None
    if _installed("uvloop"):
        import uvloop

        loop_factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        return runner.run(main)


@asynccontextmanager
async def running(app: MerchantApp, host: str = "127.0.0.1") -> AsyncIterator[str]:
    """Serve ``app`` on a free loopback port inside the current loop; yields its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((host, 0))
    server = uvicorn.Server(server_config(app, host, 0))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()  # startup failed: raise why
                raise RuntimeError("the server stopped during startup")
            await asyncio.sleep(0.01)
        yield f"http://{host}:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await task
        sock.close()


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None
