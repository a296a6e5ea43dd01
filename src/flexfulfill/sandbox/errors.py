"""The sandbox's API errors, all in Flex's ``{"detail": [{"loc", "msg", "type"}]}`` shape.

Flex's own plugin reads ``detail[].type`` (API.md §1.6), so every error the sandbox answers —
validation, unknown ids, bad keys, declines, injected faults — uses that one shape.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class SandboxError(Exception):
    """An API error: an HTTP status, a machine-readable ``type`` and a message saying what to do."""

    def __init__(
        self, status: int, type_: str, message: str, loc: Sequence[str | int] = ()
    ) -> None:
        super().__init__(message)
        self.status = status
        self.type = type_
        self.message = message
        self.loc = [str(part) for part in loc]

    def body(self) -> dict[str, Any]:
        return error_body(self.type, self.message, self.loc)


def error_body(type_: str, message: str, loc: Sequence[str | int] = ()) -> dict[str, Any]:
    item = {"loc": [str(p) for p in loc], "msg": f"{type_}: {message}", "type": type_}
    return {"detail": [item]}


def not_found(resource: str, object_id: str, loc: Sequence[str] = ("path", "id")) -> SandboxError:
    """404 for an unknown id, e.g. ``checkout_session_not_found``."""
    label = resource.replace("_", " ")
    return SandboxError(404, f"{resource}_not_found", f"No such {label}: {object_id!r}", loc)


def invalid(type_: str, message: str, loc: Sequence[str | int] = ()) -> SandboxError:
    """422 for a request Flex would refuse (unknown price, wrong mode, too large a refund …)."""
    return SandboxError(422, type_, message, loc)


def bad_state(type_: str, message: str) -> SandboxError:
    """400 for an action on an object in the wrong state (Flex's ``checkout_session_expired`` …)."""
    return SandboxError(400, type_, message, ())
