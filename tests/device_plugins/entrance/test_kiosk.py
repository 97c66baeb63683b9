"""The entrance screen's HTTP endpoints on a real socket: page, SSE, guarded POSTs."""

from __future__ import annotations

import http.client
import json
import logging
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest

from contract.payloads.entrance import EntranceRules, Person, WatchedRegion
from device_plugins.entrance.door import Door, EntranceSettings
from device_plugins.entrance.kiosk import Kiosk
from device_plugins.messages import CardRead, TemperatureReading

from .fakes import FakeContext

WUHAN = "420102199001011236"


@pytest.fixture
def kiosk() -> Iterator[Kiosk]:
    ctx = FakeContext({})
    rules = EntranceRules(watched_regions=[WatchedRegion(prefix="4201", level=1)])
    settings = EntranceSettings(
        door="east",
        readers={"idcard": "operator"},
        gate_action="gate1.open",
        kiosk_port=0,
        rules=rules,
    )
    door = Door(settings, emit=ctx.emit, call_action=ctx.call_action, logger=logging.getLogger("t"))
    k = Kiosk(door, port=0)
    k.start()
    k.ctx = ctx  # type: ignore[attr-defined]
    yield k
    k.stop()


def conn(k: Kiosk) -> http.client.HTTPConnection:
    return http.client.HTTPConnection("127.0.0.1", k.port, timeout=5)


def get(k: Kiosk, path: str, host: str | None = None) -> tuple[int, bytes, dict[str, str]]:
    c = conn(k)
    c.request("GET", path, headers={"Host": host or f"127.0.0.1:{k.port}"})
    r = c.getresponse()
    body = r.read()
    c.close()
    return r.status, body, dict(r.getheaders())


def post(k: Kiosk, path: str, body: dict[str, Any], **headers: str) -> tuple[int, dict[str, Any]]:
    hdrs = {"Host": f"127.0.0.1:{k.port}", "Content-Type": "application/json"}
    hdrs.update({name.replace("_", "-"): value for name, value in headers.items()})
    c = conn(k)
    c.request("POST", path, body=json.dumps(body), headers=hdrs)
    r = c.getresponse()
    data = json.loads(r.read() or b"{}")
    c.close()
    return r.status, data


def present(k: Kiosk, id_number: str = WUHAN) -> None:
    k.door.on_temperature(TemperatureReading("thermometer", 36.5, "sensor", time.perf_counter()))
    person = Person(document_type="resident", name="张三", id_number=id_number)
    k.door.on_card(CardRead("idcard", person, b"", time.perf_counter()))


def test_the_page_carries_the_token_and_its_assets_are_local(kiosk: Kiosk) -> None:
    status, body, headers = get(kiosk, "/")
    page = body.decode()
    assert status == 200 and "入口登记" in page
    assert f'content="{kiosk.token}"' in page
    assert "http://" not in page and "https://" not in page  # no CDN
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    for asset in re.findall(r'(?:src|href)="(/static/[^"]+)"', page):
        assert get(kiosk, asset)[0] == 200
    assert get(kiosk, "/static/../kiosk.py")[0] == 404
    assert get(kiosk, "/static/missing.js")[0] == 404


def test_a_foreign_host_is_refused_even_for_reads(kiosk: Kiosk) -> None:
    assert get(kiosk, "/api/state", host=f"evil.example:{kiosk.port}")[0] == 421
    assert get(kiosk, "/", host="127.0.0.1:1")[0] == 421
    assert get(kiosk, "/api/state", host=f"localhost:{kiosk.port}")[0] == 200


def test_sse_stream_receives_the_visitor(kiosk: Kiosk) -> None:
    c = conn(kiosk)
    c.request("GET", "/events", headers={"Host": f"127.0.0.1:{kiosk.port}"})
    r = c.getresponse()
    assert r.status == 200 and r.getheader("Content-Type").startswith("text/event-stream")

    def next_state() -> dict[str, Any]:
        data = None
        while True:
            line = r.fp.readline().decode()
            if line.startswith("data: "):
                data = json.loads(line[6:])
            elif line == "\n" and data is not None:
                return data

    first = next_state()
    assert first["current"] is None and first["door"] == "east"
    present(kiosk)
    state = next_state()
    while state["current"] is None or state["current"]["status"] != "pending":
        state = next_state()
    v = state["current"]
    assert v["name"] == "张三" and v["id_masked"] == "420***********1236"
    assert v["origin"]["city"] == "武汉市" and v["temperature_c"] == 36.5
    assert v["flags"][0]["reason"] == "来自一类地区：湖北省武汉市"
    assert WUHAN not in json.dumps(state)
    c.close()


def test_confirm_needs_the_token_and_a_same_origin(kiosk: Kiosk) -> None:
    present(kiosk)
    assert post(kiosk, "/api/confirm", {})[0] == 403  # no token
    assert post(kiosk, "/api/confirm", {}, X_Kiosk_Token="wrong")[0] == 403
    status, _ = post(
        kiosk, "/api/confirm", {}, X_Kiosk_Token=kiosk.token, Origin="http://evil.example"
    )
    assert status == 403
    assert kiosk.door.pending  # nothing happened
    status, data = post(
        kiosk,
        "/api/confirm",
        {},
        X_Kiosk_Token=kiosk.token,
        Origin=f"http://127.0.0.1:{kiosk.port}",
    )
    assert status == 200 and data["status"] == "admitted" and data["decided_by"] == "operator"
    assert kiosk.ctx.calls == [("gate1.open", None)]  # type: ignore[attr-defined]
    [p] = kiosk.ctx.passages()  # type: ignore[attr-defined]
    assert p.decision == "admitted"
    # Nothing left to confirm.
    assert post(kiosk, "/api/confirm", {}, X_Kiosk_Token=kiosk.token)[0] == 409


def test_form_posts_are_refused(kiosk: Kiosk) -> None:
    c = conn(kiosk)
    c.request(
        "POST",
        "/api/refuse",
        body="passage_id=x",
        headers={
            "Host": f"127.0.0.1:{kiosk.port}",
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Kiosk-Token": kiosk.token,
        },
    )
    assert c.getresponse().status == 415


def test_manual_entry_temperature_direction_and_refuse(kiosk: Kiosk) -> None:
    t = kiosk.token
    status, data = post(
        kiosk, "/api/manual_entry", {"name": "李四", "id_number": WUHAN}, X_Kiosk_Token=t
    )
    assert status == 200 and data["status"] == "pending" and data["document_type"] == "manual"
    status, data = post(kiosk, "/api/temperature", {"celsius": 36.4}, X_Kiosk_Token=t)
    assert status == 200 and data["visitor"]["temperature_c"] == 36.4
    assert data["visitor"]["status"] == "pending"  # still flagged: 一类地区
    status, data = post(
        kiosk, "/api/refuse", {"passage_id": data["visitor"]["passage_id"]}, X_Kiosk_Token=t
    )
    assert status == 200 and data["status"] == "refused"
    assert post(kiosk, "/api/temperature", {"celsius": 60}, X_Kiosk_Token=t)[0] == 409
    assert (
        post(kiosk, "/api/manual_entry", {"name": "x", "id_number": "1"}, X_Kiosk_Token=t)[0] == 409
    )
    assert post(kiosk, "/api/manual_entry", {"name": "x"}, X_Kiosk_Token=t)[0] == 400
    assert post(kiosk, "/api/direction", {"direction": "out"}, X_Kiosk_Token=t)[1] == {
        "direction": "out"
    }
    state = json.loads(get(kiosk, "/api/state")[1])
    assert state["direction"] == "out" and state["counts"]["refused"] == 1
