"""The one "now" every test starts at (``tests/conftest.py`` travels there before each test).

A Wednesday after every fixed date the tests use, so a date a test computes from "now" never
depends on the day CI happens to run: ten business days from here are the same days every time.
"""

from __future__ import annotations

from datetime import UTC, datetime

FROZEN_NOW = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)
