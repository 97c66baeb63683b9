"""Dashboard numbers, its live stream, and the rules pushed to the entrance agents."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from collector.console import live
from collector.devices.models import Device
from collector.modules.visitors.service import dashboard
from contract.envelopes import ConfigEnvelope
from contract.payloads.entrance import EntranceRules, person_hash
from tests.api.support import ADMIN_PASSWORD, ApiTestRuntime
from tests.console.support import csrf_of, form_login
from tests.modules.visitors.conftest import IDS, T0, feed, hours, passage

SHANGHAI = ZoneInfo("Asia/Shanghai")
FEVER = [{"code": "fever", "level": "block", "reason": "体温 38.1℃"}]


def test_dashboard_numbers(runtime: ApiTestRuntime) -> None:
    yesterday = T0 - timedelta(days=1)
    feed(
        runtime.engine,
        "c1",
        passage("zhao", "in", yesterday),
        passage("zhao", "out", yesterday + hours(1)),
    )
    feed(
        runtime.engine,
        "c1",
        passage("zhang", "in", T0),
        passage("li", "in", T0 + hours(1)),
        passage("li", "out", T0 + hours(2)),
        passage("wang", "in", T0 + hours(3), decision="refused", flags=FEVER, temperature=38.1),
    )
    feed(runtime.engine, "c2", passage("li", "in", T0 + hours(3)), device="d3")
    with Session(runtime.engine) as session:
        board = dashboard(session, {"c1", "c2"}, SHANGHAI, now=T0 + hours(4))
        county = dashboard(session, {"c2"}, SHANGHAI, now=T0 + hours(4))
    assert (board.inside, board.today, board.flagged_today) == (2, 3, 1)
    counts = {c.centre_id: (c.inside, c.today, c.refused) for c in board.centres}
    assert counts == {"c1": (1, 2, 1), "c2": (1, 1, 0)}
    assert board.provinces == [("广东省", 2), ("北京市", 1)]
    assert board.cities[0] == ("广东省广州市", 2)
    assert [v.name for v in board.flagged] == ["王五"]
    assert (county.inside, county.today) == (1, 1)


def test_dashboard_page_and_stream(
    anonymous: TestClient, runtime: ApiTestRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(live, "POLL_S", 0.05)
    monkeypatch.setattr(live, "MAX_STREAM_S", 5.0)
    form_login(anonymous, "admin", ADMIN_PASSWORD)
    page = anonymous.get("/visitors")
    assert page.status_code == 200 and "当前在场" in page.text and 'id="inside-now">0<' in page.text
    assert "cdn" not in page.text.lower() and "/static/visitors.js" in page.text

    def arrive() -> None:
        from collector.db_types import utcnow

        feed(runtime.engine, "c1", passage("zhang", "in", utcnow()))

    updates = []
    with anonymous.stream("GET", "/console/events/visitors") as stream:
        for line in stream.iter_lines():
            if line.startswith("data: "):
                updates.append(json.loads(line[6:]))
                if len(updates) == 1:
                    threading.Thread(target=arrive).start()
                elif any(i["id"] == "totals" for i in updates[-1]["items"]):
                    break
    first = {i["id"]: i for i in updates[0]["items"]}
    assert first["totals"]["inside"] == 0 and "centre:c2" in first
    # Each count is its own query: the change may arrive over two polls. Merge them.
    changed = {i["id"]: i for u in updates[1:] for i in u["items"]}
    assert changed["totals"]["inside"] == 1 and changed["totals"]["today"] == 1
    assert changed["provinces"]["bars"] == [{"name": "北京市", "count": 1, "pct": 100}]


def test_rules_are_pushed_as_desired_config_with_hashed_watch_list(
    client: TestClient, runtime: ApiTestRuntime
) -> None:
    rules = {
        "centre_id": "c2",
        "temperature_threshold_c": 37.5,
        "watched_regions": [{"prefix": "4201", "level": 1, "reason": "武汉市"}],
        "region_class1_action": "block",
    }
    r = client.post("/api/v1/visitors/rules", json=rules)
    assert r.status_code == 200, r.text
    assert r.json()["version"] == 1
    added = client.post(
        "/api/v1/visitors/watchlist",
        json={"centre_id": "c2", "name": "王五", "id_number": IDS["wang"], "reason": "协查"},
    )
    assert added.status_code == 201 and added.json()["id_number"] == "420***********3456"
    topic, payload, qos, retain = runtime.publisher.messages[-1]
    assert topic == "prtc/v1/c2/d3/config" and qos == 1 and retain
    assert IDS["wang"].encode() not in payload and "王五".encode() not in payload
    envelope = ConfigEnvelope.model_validate_json(payload)
    wire = EntranceRules.model_validate(envelope.config["entrance"]["rules"])
    assert wire.version == 2 and wire.temperature_threshold_c == 37.5
    assert wire.region_class1_action == "block" and wire.watched_regions[0].prefix == "4201"
    [watched] = wire.watchlist
    assert watched.hash == person_hash(bytes.fromhex(wire.watchlist_key), IDS["wang"])
    # another county's key differs
    client.post("/api/v1/visitors/rules", json={"centre_id": "c1"})
    c1 = ConfigEnvelope.model_validate_json(runtime.publisher.messages[-1][1])
    assert c1.config["entrance"]["rules"]["watchlist_key"] == ""
    # the agent reports the version it applied
    with Session(runtime.engine) as session:
        device = session.get(Device, "d3")
        assert device is not None
        device.applied_config_version = envelope.version
        session.add(device)
        session.commit()
    [agent] = client.get("/api/v1/visitors/agents", params={"centre": "c2"}).json()
    assert agent["device_id"] == "d3" and agent["in_sync"] and agent["rules_version"] == 2
    removed = client.post("/api/v1/visitors/watchlist/delete", json={"id": added.json()["id"]})
    assert removed.status_code == 200
    last = ConfigEnvelope.model_validate_json(runtime.publisher.messages[-1][1])
    assert last.config["entrance"]["rules"]["watchlist"] == []
    assert client.get("/api/v1/visitors/agents?centre=c2").json()[0]["in_sync"] is False


def test_rules_page_forms(anonymous: TestClient, runtime: ApiTestRuntime) -> None:
    form_login(anonymous, "admin", ADMIN_PASSWORD)
    page = anonymous.get("/visitors/rules?centre=c2")
    assert page.status_code == 200 and "入口规则" in page.text
    token = csrf_of(page.text)
    form = {
        "csrf_token": token,
        "centre_id": "c2",
        "temperature_threshold_c": "37.2",
        "require_temperature": "on",
        "region_class1_action": "warn",
        "region_class2_action": "block",
        "watched_regions": "42,1,湖北省\n4401,2,广州市",
    }
    r = anonymous.post("/visitors/rules", data=form, follow_redirects=False)
    assert r.status_code == 303
    watch = {"csrf_token": token, "centre_id": "c2", "id_number": IDS["li"], "reason": "x"}
    assert (
        anonymous.post("/visitors/watchlist", data=watch, follow_redirects=False).status_code == 303
    )
    page = anonymous.get("/visitors/rules?centre=c2").text
    assert 'id="rules-version">2<' in page and "4401,2,广州市" in page
    assert "440***********1234" in page and IDS["li"] not in page
    audit = anonymous.get("/audit").text
    assert "visitors.rules_push" in audit and "visitors.watch_add" in audit
