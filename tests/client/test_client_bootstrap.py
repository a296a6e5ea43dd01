"""build_flex_client: the composition root reads FLEX_API_BASE and FLEX_API_KEY."""

from __future__ import annotations

import pytest

from flexfulfill.bootstrap import build_flex_client
from flexfulfill.config import ConfigError, Settings


def test_without_an_api_key_the_error_names_the_variable_and_an_example() -> None:
    """No FLEX_API_KEY: a ConfigError that says which variable and how it looks."""
    with pytest.raises(ConfigError, match=r"FLEX_API_KEY: is not set\. Example: .*fsk_test_"):
        build_flex_client(Settings.from_env({}))


async def test_the_client_uses_the_configured_base_and_keys_mode() -> None:
    """FLEX_API_BASE chooses the server and the key prefix the mode."""
    env = {"FLEX_API_BASE": "http://127.0.0.1:4243/", "FLEX_API_KEY": "fsk_test_abc"}
    async with build_flex_client(Settings.from_env(env)) as client:
        assert client.base_url == "http://127.0.0.1:4243"
        assert client.test_mode is True
