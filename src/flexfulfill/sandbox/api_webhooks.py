"""Webhook endpoints, events, delivery attempts and the faults test helper."""

from __future__ import annotations

import base64
import json
import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query
from sqlalchemy import and_, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from flexfulfill.sandbox import messages as q
from flexfulfill.sandbox import tables as t
from flexfulfill.sandbox.api_common import State
from flexfulfill.sandbox.errors import bad_state, invalid, not_found
from flexfulfill.sandbox.ids import new_id
from flexfulfill.sandbox.inputs import RetryEventBody, WebhookBody
from flexfulfill.sandbox.pagination import Cursor, Limit, paginate
from flexfulfill.sandbox.present import Doc, present

router = APIRouter()
W, E = t.webhooks, t.events
ROTATION_GRACE = 24 * 3600.0  # seconds the previous secret keeps signing, as on Svix


def new_secret() -> str:
    return "fwhsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def show_webhook(row: Any) -> Doc:
    doc = {
        "webhook_id": row.webhook_id,
        "url": row.url,
        "events": json.loads(row.events),
        "signing_secret": row.secret,
        "enabled": row.enabled,
        "test_mode": True,
    }
    shown = present("webhook", doc)
    shown["failing_since"] = row.failing_since
    return shown


async def _webhook(
    conn: AsyncConnection, webhook_id: str, loc: tuple[str, ...] = ("path", "id")
) -> Any:
    row = (await conn.execute(select(W).where(W.c.webhook_id == webhook_id))).first()
    if row is None:
        raise not_found("webhook", webhook_id, loc)
    return row


@router.post("/v1/webhooks")
async def create_webhook(body: WebhookBody, state: State) -> dict[str, Any]:
    """An endpoint; no event types (or ``*``) means every event, as on Svix."""
    data = body.webhook
    if data.url is None:
        raise invalid(
            "missing", "a webhook needs a url (http:// or https://)", ["body", "webhook", "url"]
        )
    webhook_id = new_id("webhook")
    row = {
        "webhook_id": webhook_id,
        "url": data.url,
        "events": json.dumps(data.events or []),
        "secret": new_secret(),
        "enabled": True if data.enabled is None else data.enabled,
        "created_at": state.clock.now(),
    }
    async with state.transaction() as tx:
        await tx.conn.execute(insert(W).values(row))
        return {"webhook": show_webhook(await _webhook(tx.conn, webhook_id))}


@router.get("/v1/webhooks")
async def list_webhooks(
    state: State, limit: Limit = None, starting_after: Cursor = None
) -> dict[str, Any]:
    async with state.read() as tx:
        rows = await (await tx.db()).execute(select(W).order_by(W.c.seq.desc()))
        docs = [show_webhook(row) for row in rows]
    return {"webhooks": paginate(docs, "webhook_id", limit=limit, starting_after=starting_after)}


@router.get("/v1/webhooks/{id}")
async def get_webhook(id: str, state: State) -> dict[str, Any]:
    async with state.read() as tx:
        return {"webhook": show_webhook(await _webhook(await tx.db(), id))}


@router.post("/v1/webhooks/{id}")
async def update_webhook(id: str, body: WebhookBody, state: State) -> dict[str, Any]:
    """Change url, events or ``enabled``; re-enabling clears the failure streak."""
    changes: dict[str, Any] = body.webhook.model_dump(exclude_none=True)
    if "events" in changes:
        changes["events"] = json.dumps(changes["events"])
    if changes.get("enabled"):
        changes["failing_since"] = None
    async with state.transaction() as tx:
        await _webhook(tx.conn, id)
        if changes.get("enabled") is False:
            await q.disable_endpoint(tx.conn, id)
        if changes:
            await tx.conn.execute(update(W).where(W.c.webhook_id == id).values(changes))
        return {"webhook": show_webhook(await _webhook(tx.conn, id))}


@router.post("/v1/webhooks/{id}/rotate_secret")
async def rotate_secret(id: str, state: State) -> dict[str, Any]:
    """A new signing secret (Svix's rotate-secret, a sandbox addition); for 24 h deliveries
    carry two signatures, the new secret's first, so a receiver can switch without a gap."""
    async with state.transaction() as tx:
        row = await _webhook(tx.conn, id)
        values = {
            "secret": new_secret(),
            "previous_secret": row.secret,
            "previous_until": tx.now + ROTATION_GRACE,
        }
        await tx.conn.execute(update(W).where(W.c.webhook_id == id).values(values))
        return {"webhook": show_webhook(await _webhook(tx.conn, id))}


@router.delete("/v1/webhooks/{id}")
async def delete_webhook(id: str, state: State) -> dict[str, Any]:
    async with state.transaction() as tx:
        shown = show_webhook(await _webhook(tx.conn, id))
        await q.disable_endpoint(tx.conn, id)
        await tx.conn.execute(delete(W).where(W.c.webhook_id == id))
    return {"webhook": {**shown, "deleted": True}}


@router.get("/v1/webhooks/{id}/attempts")
async def webhook_attempts(id: str, state: State, limit: Limit = None) -> dict[str, Any]:
    async with state.read() as tx:
        conn = await tx.db()
        await _webhook(conn, id)
        return {"attempts": await _attempts(conn, t.attempts.c.webhook_id == id, limit)}


@router.get("/v1/events/{id}/attempts")
async def event_attempts(id: str, state: State, limit: Limit = None) -> dict[str, Any]:
    async with state.read() as tx:
        conn = await tx.db()
        await _event_row(conn, id)
        return {"attempts": await _attempts(conn, t.attempts.c.event_id == id, limit)}


async def _attempts(conn: AsyncConnection, condition: Any, limit: int | None) -> list[Doc]:
    query = (
        select(t.attempts).where(condition).order_by(t.attempts.c.seq.desc()).limit(limit or 100)
    )
    return [q.attempt_view(row) for row in await conn.execute(query)]


async def _event_row(conn: AsyncConnection, event_id: str) -> Any:
    row = (await conn.execute(select(E).where(E.c.event_id == event_id))).first()
    if row is None:
        raise not_found("event", event_id)
    return row


@router.get("/v1/events")
async def list_events(
    state: State,
    limit: Limit = None,
    starting_after: Cursor = None,
    event_type: Annotated[str | None, Query()] = None,
) -> dict[str, Any]:
    query = select(E.c.body).order_by(E.c.seq.desc())
    if event_type is not None:
        query = query.where(E.c.event_type == event_type)
    async with state.read() as tx:
        docs = [json.loads(raw) for (raw,) in await (await tx.db()).execute(query)]
    return {"events": paginate(docs, "event_id", limit=limit, starting_after=starting_after)}


@router.get("/v1/events/{id}")
async def get_event(id: str, state: State) -> dict[str, Any]:
    async with state.read() as tx:
        return {"event": json.loads((await _event_row(await tx.db(), id)).body)}


@router.post("/v1/events/{id}/retry")
async def retry_event(id: str, body: RetryEventBody, state: State) -> dict[str, Any]:
    """Send the event to the endpoint again now, as the same message (same ``svix-id``)."""
    webhook_id = body.event.webhook_id
    async with state.transaction() as tx:
        event = json.loads((await _event_row(tx.conn, id)).body)
        endpoint = await _webhook(tx.conn, webhook_id, ("body", "event", "webhook_id"))
        if not endpoint.enabled:
            raise bad_state(
                "webhook_disabled",
                f"{webhook_id} is disabled; enable it first with "
                'POST /v1/webhooks/{id} {"webhook": {"enabled": true}}',
            )
        M = t.messages
        match = and_(M.c.event_id == id, M.c.webhook_id == webhook_id)
        found = (await tx.conn.execute(select(M.c.message_id).where(match))).first()
        if found is None:
            await tx.queue_message(id, webhook_id)
        else:
            values = {"status": t.MessageStatus.PENDING, "failures": 0, "next_attempt_at": tx.now}
            await tx.conn.execute(update(M).where(match).values(values))
            tx.emitted += 1
    return {"event": event}


@router.get("/v1/test_helpers/faults")
async def get_faults(state: State) -> dict[str, Any]:
    return {"faults": state.faults.faults.model_dump()}


@router.put("/v1/test_helpers/faults")
async def put_faults(
    state: State, faults: Annotated[dict[str, Any], Body(embed=True)]
) -> dict[str, Any]:
    """Change the given faults now; fields left out keep their values."""
    return {"faults": state.faults.update(faults).model_dump()}
