"""Repeated refusals in a sliding window, against a plain count."""

from __future__ import annotations

import hypothesis.strategies as st
from hypothesis import given

from device_plugins.expert_gate.refusals import RefusalWatch

events = st.lists(
    st.tuples(st.sampled_from(["a", "b", "c"]), st.floats(0, 50, allow_nan=False)), max_size=40
)


@given(events=events, threshold=st.integers(2, 5), window=st.floats(1, 20))
def test_counts_match_a_plain_sliding_window(
    events: list[tuple[str, float]], threshold: int, window: float
) -> None:
    watch = RefusalWatch(threshold, window)
    seen: list[tuple[str, float]] = []
    now = 0.0
    for credential, step in events:
        now += step
        seen.append((credential, now))
        expected = sum(1 for c, t in seen if c == credential and now - t <= window)
        assert watch.record(credential, now) == expected
    hot = {
        c
        for c in {c for c, _ in seen}
        if sum(1 for x, t in seen if x == c and now - t <= window) >= threshold
    }
    assert set(watch.alerting(now)) == hot


def test_clear_ends_a_streak() -> None:
    watch = RefusalWatch(2, 10)
    watch.record("a", 0)
    watch.clear("a")
    assert watch.record("a", 1) == 1 and watch.alerting(1) == []
