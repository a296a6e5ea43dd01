"""`flexfulfill webhooks register|list|delete` against the real sandbox over loopback HTTP.

The CLI runs its own event loop (asyncio.run), so each invocation runs in a worker thread while
the sandbox keeps serving on this test's loop.
"""

from __future__ import annotations

import asyncio
import json

from typer.testing import CliRunner, Result

from flexfulfill.cli import app
from flexfulfill.sandbox import RunningSandbox


async def cli(sandbox: RunningSandbox, *args: str, key: str | None = None) -> Result:
    """Run `flexfulfill webhooks …` with FLEX_API_BASE/FLEX_API_KEY pointing at the sandbox."""
    env = {"FLEX_API_BASE": sandbox.base_url, "FLEX_API_KEY": key or sandbox.api_key}
    runner = CliRunner()
    return await asyncio.to_thread(runner.invoke, app, ["webhooks", *args], env=env)


async def test_register_prints_the_signing_secret_once_with_the_env_hint(
    sandbox: RunningSandbox,
) -> None:
    """The secret Flex returns is printed on creation, next to where to put it."""
    url = "http://127.0.0.1:4242/webhook"
    result = await cli(sandbox, "register", url, "--events", "checkout.session.completed")
    assert result.exit_code == 0, result.output
    stored = await sandbox.request("GET", "/v1/webhooks")
    secret = stored["webhooks"][0]["signing_secret"]
    assert result.output.count(secret) == 2  # the secret line and the export example
    assert f"export FLEX_WEBHOOK_SECRET={secret}" in result.output
    assert stored["webhooks"][0]["events"] == ["checkout.session.completed"]


async def test_register_subscribes_to_every_handled_type_by_default(
    sandbox: RunningSandbox,
) -> None:
    """Without --events the endpoint gets every type the worker acts on; --json for scripts."""
    result = await cli(sandbox, "register", "http://127.0.0.1:4242/webhook", "--json")
    assert result.exit_code == 0, result.output
    created = json.loads(result.output)
    assert "checkout.session.completed" in created["events"]
    assert "refund.updated" in created["events"]
    assert created["signing_secret"].startswith("fwhsec_")


async def test_list_shows_endpoints_but_never_their_secrets(sandbox: RunningSandbox) -> None:
    """list prints the endpoints (table and JSON) without the signing secret."""
    hook = await sandbox.create_webhook("http://127.0.0.1:4242/webhook", ["refund.updated"])
    table = await cli(sandbox, "list")
    as_json = await cli(sandbox, "list", "--json")
    assert table.exit_code == 0, table.output
    assert hook["webhook_id"] in table.output
    assert [row["webhook_id"] for row in json.loads(as_json.output)] == [hook["webhook_id"]]
    assert hook["signing_secret"] not in table.output + as_json.output


async def test_delete_removes_the_endpoint(sandbox: RunningSandbox) -> None:
    """After delete, the sandbox lists no endpoints."""
    hook = await sandbox.create_webhook("http://127.0.0.1:4242/webhook")
    result = await cli(sandbox, "delete", hook["webhook_id"])
    assert result.exit_code == 0, result.output
    assert hook["webhook_id"] in result.output
    assert (await sandbox.request("GET", "/v1/webhooks"))["webhooks"] == []


async def test_deleting_an_unknown_endpoint_says_what_to_do(sandbox: RunningSandbox) -> None:
    """A Flex error ends the command with exit code 1 and advice, not a traceback."""
    result = await cli(sandbox, "delete", "fwh_01J9XR8M3K7VZ8N2YB4WJ6T0RA")
    assert result.exit_code == 1
    assert "Check the id" in result.output


async def test_a_live_key_on_the_sandbox_points_at_flex_api_key(sandbox: RunningSandbox) -> None:
    """A refused key is reported as such, with the variable to fix."""
    result = await cli(sandbox, "list", key="fsk_live_wrong")
    assert result.exit_code == 1
    assert "FLEX_API_KEY" in result.output
    assert "fsk_live_wrong" not in result.output


async def test_without_an_api_key_the_command_names_the_variable(sandbox: RunningSandbox) -> None:
    """No FLEX_API_KEY: a configuration error (exit 2) naming it, before any request."""
    runner = CliRunner()
    env = {"FLEX_API_BASE": sandbox.base_url, "FLEX_API_KEY": ""}
    result = await asyncio.to_thread(runner.invoke, app, ["webhooks", "list"], env=env)
    assert result.exit_code == 2
    assert "FLEX_API_KEY" in result.output
