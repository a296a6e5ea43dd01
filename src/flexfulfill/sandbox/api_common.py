"""What every route module of the sandbox API shares."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request

from flexfulfill.sandbox.state import SandboxState


async def get_state(request: Request) -> SandboxState:
    # async: FastAPI runs a plain ``def`` dependency in its thread pool, a thread hop per request.
    state: SandboxState = request.app.state.sandbox
    return state


State = Annotated[SandboxState, Depends(get_state)]
Flag = Annotated[bool | None, Query()]
Expand = Annotated[str, Query()]


def base_url(request: Request) -> str:
    """The sandbox's own origin, for hosted-page URLs (works behind port 0)."""
    return str(request.base_url).rstrip("/")


def expands(expand: str, name: str, flag: bool | None = None) -> bool:
    """Whether ``name`` is expanded: by its own flag or listed in ``expand`` (comma-separated;
    singular or plural, e.g. ``payment_intent`` or ``payment_intents``)."""
    listed = {part.strip().removesuffix("s") for part in expand.split(",")}
    return bool(flag) or name.removesuffix("s") in listed
