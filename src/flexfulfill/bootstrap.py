"""The composition root: the only place real engines, clients, mailers and clocks are built."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from flexfulfill.config import Settings
from flexfulfill.store.db import make_engine


def build_engine(settings: Settings) -> AsyncEngine:
    """The database engine for the configured ``DATABASE_URL``."""
    return make_engine(settings.database_url)
