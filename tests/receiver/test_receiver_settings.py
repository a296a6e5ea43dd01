"""Settings for the receiver: a missing or malformed value names the variable and an example."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from flexfulfill.config import ConfigError, Settings

GOOD_SECRET = "fwhsec_Y2NhZDczMDYtNDEyYi0xMWVlLTg5MTItNGY4Y2E5ZmU1MmI4"
CLI = Path(sys.executable).parent / "flexfulfill"


def test_the_defaults_need_only_a_secret() -> None:
    """With just a secret: SQLite in the working directory, 127.0.0.1:4242, 1 MiB, 300 s."""
    settings = Settings.from_env({"FLEX_WEBHOOK_SECRET": GOOD_SECRET})
    assert settings.database_url == "sqlite+aiosqlite:///./flexfulfill.sqlite3"
    assert (settings.host, settings.port) == ("127.0.0.1", 4242)
    assert (settings.body_limit, settings.timestamp_tolerance) == (1024 * 1024, 300)


def test_several_comma_separated_secrets_are_all_kept() -> None:
    """A rotation configures the old and the new secret at once."""
    other = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    settings = Settings.from_env({"FLEX_WEBHOOK_SECRET": f"{GOOD_SECRET}, {other}"})
    assert settings.webhook_secrets == (GOOD_SECRET, other)


def test_a_required_secret_that_is_missing_is_named_with_an_example() -> None:
    """serve requires FLEX_WEBHOOK_SECRET; the error names it and shows a valid value."""
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({}, require=("FLEX_WEBHOOK_SECRET",))
    assert str(caught.value).startswith("FLEX_WEBHOOK_SECRET: is not set")
    assert "Example: FLEX_WEBHOOK_SECRET=fwhsec_" in str(caught.value)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("FLEX_WEBHOOK_SECRET", "Y2NhZDczMDY"),
        ("FLEX_WEBHOOK_SECRET", "whsec_***"),
        ("DATABASE_URL", "mysql://127.0.0.1/shop"),
        ("FLEXFULFILL_PORT", "http"),
        ("FLEXFULFILL_PORT", "70000"),
        ("WEBHOOK_BODY_LIMIT", "-1"),
        ("WEBHOOK_BODY_LIMIT", "1MB"),
        ("WEBHOOK_TOLERANCE_SECONDS", "five minutes"),
    ],
)
def test_a_malformed_value_names_the_variable_and_shows_an_example(
    variable: str, value: str
) -> None:
    """Every receiver setting is checked at start-up, with a message that says how to fix it."""
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({"FLEX_WEBHOOK_SECRET": GOOD_SECRET, variable: value})
    assert caught.value.variable == variable
    assert f"Example: {variable}=" in str(caught.value)


def test_serve_without_a_secret_stops_with_one_clear_line(tmp_path: Path) -> None:
    """`flexfulfill serve` exits 2 naming FLEX_WEBHOOK_SECRET rather than half-starting."""
    env = {k: v for k, v in os.environ.items() if k != "FLEX_WEBHOOK_SECRET"}
    done = subprocess.run(
        [str(CLI), "serve"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert "FLEX_WEBHOOK_SECRET" in done.stderr
    assert "Traceback" not in done.stderr
