"""The sandbox's composition: storage, delivery engine, faults and the ASGI app.

``build_sandbox`` returns the app and its :class:`SandboxState` (start/stop the state around
serving); :func:`flexfulfill.sandbox.runner.run_sandbox` does all of it on a free port.
"""

from __future__ import annotations

import importlib.util
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException

from flexfulfill.clock import Clock
from flexfulfill.config import normalize_database_url
from flexfulfill.sandbox import api_billing, api_catalog, api_checkout, api_customers, api_webhooks
from flexfulfill.sandbox.delivery import DeliveryEngine
from flexfulfill.sandbox.errors import SandboxError, error_body
from flexfulfill.sandbox.fast_reads import FastReads
from flexfulfill.sandbox.faults import FaultBox, Faults
from flexfulfill.sandbox.guard import Guard
from flexfulfill.sandbox.idempotency import Idempotency
from flexfulfill.sandbox.retry import RetryPolicy
from flexfulfill.sandbox.state import SandboxState
from flexfulfill.sandbox.store import SandboxStore
from flexfulfill.store.db import make_engine

ROUTERS = (api_catalog, api_checkout, api_customers, api_billing, api_webhooks)
HOSTED = "flexfulfill.sandbox.hosted"  # the hosted checkout pages, when present


def build_sandbox(
    database_url: str,
    *,
    clock: Clock | None = None,
    policy: RetryPolicy | None = None,
    faults: Faults | None = None,
    seed: int | None = None,
    concurrency: int = 256,
) -> tuple[Any, SandboxState]:
    """The ASGI app and its state; ``await state.start()`` before serving, ``stop()`` after."""
    clock = clock or Clock()
    box = FaultBox(faults, seed=seed)
    policy = policy or RetryPolicy()
    store = SandboxStore(make_engine(normalize_database_url(database_url)))
    engine = DeliveryEngine(store, clock, policy, box, concurrency=concurrency)
    state = SandboxState(store, engine, clock, box, policy)
    api = Idempotency(build_api(state), store, clock)
    return Guard(FastReads(api, state), box), state


def build_api(state: SandboxState) -> FastAPI:
    api = FastAPI(
        title="flexfulfill sandbox (a local, stateful Flex)", docs_url="/docs", redoc_url=None
    )
    api.state.sandbox = state
    for module in ROUTERS:
        api.include_router(module.router)
    if importlib.util.find_spec(HOSTED) is not None:
        # The hosted pages (another area): hosted_router(state) → an APIRouter.
        api.include_router(importlib.import_module(HOSTED).hosted_router(state))
    api.add_exception_handler(SandboxError, _sandbox_error)
    api.add_exception_handler(RequestValidationError, _validation_error)
    api.add_exception_handler(ValidationError, _validation_error)
    api.add_exception_handler(HTTPException, _http_error)
    return api


async def _sandbox_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, SandboxError)
    return JSONResponse(exc.body(), status_code=exc.status)


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's and pydantic's errors in Flex's shape (every ``loc`` part a string)."""
    assert isinstance(exc, RequestValidationError | ValidationError)
    items = [
        {
            "loc": [str(p) for p in err.get("loc", ())],
            "msg": f"{err['type']}: {err['msg']}",
            "type": err["type"],
        }
        for err in exc.errors()
    ]
    return JSONResponse({"detail": items}, status_code=422)


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    kind = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    return JSONResponse(
        error_body(kind, str(exc.detail)),
        status_code=exc.status_code,
        headers=getattr(exc, "headers", None),
    )
