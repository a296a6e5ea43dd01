"""``GET /healthz`` (process up), ``GET /readyz`` (database answers), ``GET /metrics``."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger(__name__)
READY_TIMEOUT = 2.0


def health_router(
    engine: AsyncEngine,
    registry: CollectorRegistry,
    *,
    stopped: Callable[[], list[str]] = list,
) -> APIRouter:
    """The health and metrics routes; ``stopped`` names background tasks that have died."""
    router = APIRouter(tags=["health"])

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        """The process is up and serving HTTP."""
        return {"status": "ok"}

    @router.get("/readyz")
    async def readyz() -> Response:
        """The database answers a read of the inbox and no background task has died."""
        problem = await database_problem(engine)
        if problem is None and stopped():
            problem = f"background task(s) stopped: {', '.join(stopped())}"
        if problem is None:
            return JSONResponse({"status": "ready"})
        return JSONResponse({"status": "unavailable", "reason": problem}, status_code=503)

    @router.get("/metrics")
    async def metrics(_request: Request) -> Response:
        """Prometheus text exposition of this app's metrics."""
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return router


async def database_problem(engine: AsyncEngine) -> str | None:
    """None when the inbox table can be read, else a short reason (no URL, no password)."""
    try:
        async with asyncio.timeout(READY_TIMEOUT):
            async with engine.connect() as conn:
                conn = await conn.execution_options(readonly=True)
                await conn.execute(text("SELECT 1 FROM webhook_events LIMIT 1"))
    except TimeoutError:
        return f"the database did not answer within {READY_TIMEOUT} s"
    except (SQLAlchemyError, OSError) as exc:
        log.warning("readiness check failed: %s", type(exc).__name__)
        return f"the database is unreachable ({type(exc).__name__})"
    return None
