from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.device_plugins.pcsc_reader.pcscd import Pcscd, Unavailable, shared


@pytest.fixture
def pcscd() -> Iterator[Pcscd]:
    """A real pcscd with vsmartcard's vpcd driver; each test starts it with its readers."""
    pytest.importorskip("smartcard", reason="pyscard not installed")
    try:
        daemon = shared()
    except Unavailable as exc:
        pytest.skip(f"no pcscd with vpcd here: {exc}")
    yield daemon
    daemon.stop()
