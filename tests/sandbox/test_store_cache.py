"""The store's document cache: committed writes only, never a stale row from an older read."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import select

from flexfulfill.sandbox import run_sandbox
from flexfulfill.sandbox import tables as t
from flexfulfill.sandbox.store import DocCache


@pytest.fixture
async def on_engine(database_url: str) -> AsyncIterator[Any]:
    """A sandbox on SQLite and (marker postgres) on PostgreSQL."""
    async with run_sandbox(database_url, seed=1) as running:
        yield running


async def _customer(sandbox: Any, email: str = "a@example.com") -> str:
    body = {"customer": {"email": email, "first_name": "A", "last_name": "B"}}
    return str((await sandbox.request("POST", "/v1/customers", body))["customer"]["customer_id"])


async def _stored(sandbox: Any, object_id: str) -> dict[str, Any]:
    """The row in the database, bypassing the cache."""
    async with sandbox.state.store.reading() as conn:
        raw = await conn.execute(select(t.objects.c.data).where(t.objects.c.id == object_id))
        return dict(json.loads(raw.scalar_one()))


async def test_a_rolled_back_transaction_leaves_the_cache_alone(on_engine: Any) -> None:
    cid = await _customer(on_engine)

    async def change_then_fail() -> None:
        async with on_engine.state.transaction() as tx:
            doc = await tx.require("customer", cid)
            doc["email"] = "changed@example.com"
            await tx.save("customer", doc)
            assert (await tx.require("customer", cid))["email"] == "changed@example.com"
            raise RuntimeError("abort")

    with pytest.raises(RuntimeError):
        await change_then_fail()
    shown = await on_engine.request("GET", f"/v1/customers/{cid}")
    assert shown["customer"]["email"] == "a@example.com"
    assert (await _stored(on_engine, cid))["email"] == "a@example.com"


async def test_a_committed_write_is_in_the_database_and_the_next_read(on_engine: Any) -> None:
    cid = await _customer(on_engine)
    async with on_engine.state.transaction() as tx:
        doc = await tx.require("customer", cid)
        doc["email"] = "new@example.com"
        await tx.save("customer", doc)
        doc["first_name"] = "Second"  # saved twice in one transaction: the last one counts
        await tx.save("customer", doc)
    assert (await _stored(on_engine, cid))["first_name"] == "Second"
    async with on_engine.state.read() as tx:
        assert (await tx.require("customer", cid))["first_name"] == "Second"


async def test_a_read_from_before_a_write_does_not_put_its_old_row_in_the_cache(
    sandbox: Any,
) -> None:
    """A read transaction whose snapshot predates a commit must not cache what it read."""
    cid, other = await _customer(sandbox), await _customer(sandbox, "b@example.com")
    cache = sandbox.state.store.cache
    cache._docs.clear()  # as if evicted: the reads below go to the database
    async with sandbox.state.read() as old:
        await old.require("customer", other)  # opens the read snapshot (SQLite: deferred)
        async with sandbox.state.transaction() as tx:
            doc = await tx.require("customer", cid)
            doc["email"] = "after@example.com"
            await tx.save("customer", doc)
        cache._docs.clear()  # evicted again before the old transaction reads it
        before = await old.require("customer", cid)
    assert before["email"] == "a@example.com"  # the snapshot's row: right for that transaction
    async with sandbox.state.read() as tx:
        assert (await tx.require("customer", cid))["email"] == "after@example.com"


async def test_a_transaction_reads_its_own_writes_and_lists_them(on_engine: Any) -> None:
    async with on_engine.state.transaction() as tx:
        doc = {"customer_id": "fcus_own", "email": "own@example.com", "metadata": {}}
        await tx.insert("customer", doc)
        assert (await tx.require("customer", "fcus_own"))["email"] == "own@example.com"
        assert "fcus_own" in {c["customer_id"] for c in await tx.all("customer")}
        doc["email"] = "later@example.com"  # saved after the list flushed the insert
        await tx.save("customer", doc)
    assert (await _stored(on_engine, "fcus_own"))["email"] == "later@example.com"


async def test_saving_an_object_that_is_not_stored_caches_nothing(on_engine: Any) -> None:
    async with on_engine.state.transaction() as tx:
        await tx.save("customer", {"customer_id": "fcus_ghost", "email": "g@example.com"})
    async with on_engine.state.read() as tx:
        assert await tx.get("customer", "fcus_ghost") is None


def test_the_cache_keeps_at_most_its_size_and_refuses_rows_read_before_a_commit() -> None:
    cache = DocCache(size=2)
    cache.committed({("k", "a"): "1", ("k", "b"): "2", ("k", "c"): "3"}, set())
    assert [cache.get("k", x) for x in "abc"] == [None, "2", "3"]
    generation = cache.generation
    cache.committed({("k", "b"): "2'"}, set())
    cache.remember("k", "b", "2", generation)  # read before that commit: refused
    assert cache.get("k", "b") == "2'"
    cache.remember("k", "d", "4", cache.generation)
    assert cache.get("k", "d") == "4"
