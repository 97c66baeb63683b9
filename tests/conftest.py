"""Fixtures every test package may use."""

from tests.support.browser import browser

__all__ = ["browser"]
