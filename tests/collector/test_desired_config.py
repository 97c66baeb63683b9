"""Desired configuration: global monotonic versions, layered merge, retained publication."""

from __future__ import annotations

import threading

import pytest
from sqlmodel import Session

from collector.desired_config import service as config_service
from collector.desired_config.models import ConfigScope
from collector.desired_config.service import deep_merge
from tests.collector.conftest import enrol, session
from tests.support.net import wait_until


def test_deep_merge_nested_and_replace():
    base = {"sim": {"rate": 1, "sensors": {"a": 1}}, "rules": ["x"], "keep": True}
    over = {"sim": {"sensors": {"b": 2}, "rate": 5}, "rules": ["y"]}
    assert deep_merge(base, over) == {
        "sim": {"rate": 5, "sensors": {"a": 1, "b": 2}},
        "rules": ["y"],
        "keep": True,
    }
    assert base["sim"]["sensors"] == {"a": 1}  # inputs untouched


def test_versions_monotonic_layers_merged_and_published(collector, agent_factory):
    enrol(collector, "cfg-1", kind="gate")
    enrol(collector, "cfg-2", kind="gate")
    enrol(collector, "cfg-3", kind="entrance")
    a1, a3 = agent_factory("cfg-1"), agent_factory("cfg-3")
    pub = collector.publisher
    with session(collector) as s:
        assert config_service.effective_config(s, "cfg-1") is None
        c = config_service.set_config(
            s, pub, scope=ConfigScope.CENTRE, target="t-city",
            config={"sim": {"rate": 1, "unit": "C"}, "rules": {"open": "08:00"}},
        )  # fmt: skip
        k = config_service.set_config(
            s, pub, scope="kind", target="gate", config={"sim": {"rate": 2}}
        )
        d = config_service.set_config(
            s, pub, scope="device", target="cfg-1", config={"rules": {"close": "18:00"}},
            created_by="admin",
        )  # fmt: skip
        assert (c.version, k.version, d.version) == (1, 2, 3)
        eff1 = config_service.effective_config(s, "cfg-1")
        eff2 = config_service.effective_config(s, "cfg-2")
        eff3 = config_service.effective_config(s, "cfg-3")
    assert eff1.version == 3
    assert eff1.config == {
        "sim": {"rate": 2, "unit": "C"},
        "rules": {"open": "08:00", "close": "18:00"},
    }
    assert eff2.version == 2 and eff2.config["sim"] == {"rate": 2, "unit": "C"}
    assert eff3.version == 1 and eff3.config["sim"] == {"rate": 1, "unit": "C"}

    # Every affected device got each new effective version, retained, in order.
    wait_until(lambda: [c["version"] for c in a1.of("config")] == [1, 2, 3], 10, what="cfg-1")
    wait_until(lambda: [c["version"] for c in a3.of("config")] == [1], 10, what="cfg-3")
    assert a1.of("config")[-1]["config"] == eff1.config

    # A device connecting later gets the retained effective config.
    late = agent_factory("cfg-2")
    wait_until(lambda: [c["version"] for c in late.of("config")] == [2], 10, what="retained")

    # A newer centre layer raises the version even where lower layers override it.
    with session(collector) as s:
        c2 = config_service.set_config(
            s, pub, scope="centre", target="t-city", config={"sim": {"rate": 9}}
        )
        eff1b = config_service.effective_config(s, "cfg-1")
    assert c2.version == 4 and eff1b.version == 4
    assert eff1b.config["sim"] == {"rate": 2}  # kind layer still wins; centre lost "unit"


def test_concurrent_writers_get_distinct_versions(collector):
    enrol(collector, "cfg-c")
    versions: list[int] = []
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for i in range(5):
                with Session(collector.engine, expire_on_commit=False) as s:
                    layer = config_service.set_config(
                        s,
                        collector.publisher,
                        scope="device",
                        target="cfg-c",
                        config={"n": n, "i": i},
                    )
                    versions.append(layer.version)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert sorted(versions) == list(range(1, 21))


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_device_coming_online_gets_config_republished(collector, agent_factory):
    enrol(collector, "cfg-o")
    agent = agent_factory("cfg-o")
    with session(collector) as s:
        config_service.set_config(
            s, collector.publisher, scope="device", target="cfg-o", config={"a": 1}
        )
    wait_until(lambda: len(agent.of("config")) == 1, 10, what="first publication")
    agent.publish_status("online", boot=1, session_=1)
    wait_until(lambda: len(agent.of("config")) == 2, 10, what="republished on online")
