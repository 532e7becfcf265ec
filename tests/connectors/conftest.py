"""Fixtures for connector tests: an in-process fake Graph API."""
from __future__ import annotations

from typing import AsyncIterator

import pytest_asyncio

from tests.fakes.graph_api import FakeGraph


@pytest_asyncio.fixture
async def graph() -> AsyncIterator[FakeGraph]:
    """Serve a fresh fake Graph API on 127.0.0.1 for one test."""
    async with FakeGraph() as fake:
        yield fake
