"""Looking for identifiers in responses."""

from __future__ import annotations

import re


def mentions(text: str, identifier: str) -> bool:
    """Whether a response shows an identifier as a whole word: random CSRF tokens and UUIDs
    may contain a short id such as ``c3`` as a substring."""
    return re.search(rf"(?<![\w-]){re.escape(identifier)}(?![\w-])", text) is not None
