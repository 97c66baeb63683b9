"""The experts module: push API, roster config, xlsx import, admissions and sign-in, alerts,
recordings and county scoping."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlmodel import Session, select

from collector.auth.permissions import Role
from collector.auth.tokens import create_api_token
from collector.centres.models import Centre
from collector.desired_config.models import DesiredConfig
from collector.devices.models import Device
from collector.files.models import StoredFile, UploadState
from collector.modules.burn.models import ArchiveProject
from collector.modules.experts import jobs, service
from collector.modules.experts.models import (
    AccessRecord,
    ExpertAlert,
    ExpertSession,
    Project,
    Recording,
    RosterEntry,
    SignIn,
)
from collector.modules.experts.settings import ExpertsSettings
from collector.modules.notify.models import SmsMessage
from collector.security.personal_data import PiiKind, lookup_hash
from contract.ids import uuid7
from contract.payloads.access import GateRoster, card_hash
from contract.payloads.entrance import person_hash
from tests.api.support import ADMIN_PASSWORD, ApiTestRuntime
from tests.console.support import PASSWORD, add_user, csrf_of, form_login
from tests.modules.experts.support import admission, feed_admissions, feed_event

ZHANG = "11010519491231002X"
WANG = "420111198510203456"
PHONE = "13812345678"
START = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=5)


def project_body(start: datetime = START, **extra: Any) -> dict[str, Any]:
    return {
        "centre_id": "c1",
        "number": "JSGC-2026-018",
        "name": "第一中学教学楼工程",
        "category": "工程建设",
        "sessions": [
            {
                "key": "1",
                "rooms": ["P1"],
                "start": start.isoformat(),
                "end": (start + timedelta(hours=3)).isoformat(),
                "host_name": "王主持",
                "host_phone": "13800000001",
                "roster": [
                    {
                        "name": "张三",
                        "id_number": ZHANG,
                        "phone": PHONE,
                        "role": "leader",
                        "specialty": "房屋建筑",
                    },
                    {"name": "王五", "id_number": WANG, "card_uid": "04 a1 b2 c3"},
                    {"kind": "supervisor", "name": "赵监督", "card_uid": "0499AA"},
                ],
            }
        ],
        **extra,
    }


@pytest.fixture
def rooms(client: TestClient) -> None:
    body = {
        "centre_id": "c1",
        "code": "P1",
        "name": "评标室1",
        "gates": ["d2"],
        "terminals": ["t1"],
    }
    assert client.post("/api/v1/experts/rooms", json=body).status_code == 200


@pytest.fixture
def platform(runtime: ApiTestRuntime, client: TestClient, rooms: None) -> TestClient:
    """A client of the trading platform: a bearer token with experts.push for c1."""
    with Session(runtime.engine) as session:
        session.add(Device(id="t1", centre_id="c1", kind="recorder", online=True))
        session.commit()
        _, secret = create_api_token(
            session, name="platform", centre_id="c1", permissions=["experts.push"]
        )
    c = TestClient(client.app)
    c.headers["Authorization"] = f"Bearer {secret}"
    return c


def settings_of(runtime: ApiTestRuntime) -> ExpertsSettings:
    return runtime.settings.experts


def the_session(runtime: ApiTestRuntime) -> ExpertSession:
    with Session(runtime.engine) as session:
        return session.exec(select(ExpertSession)).one()


def test_push_api_is_an_idempotent_upsert_and_handles_postponement(
    runtime: ApiTestRuntime, platform: TestClient
) -> None:
    first = platform.put("/api/v1/experts/projects", json=project_body())
    assert first.status_code == 200, first.text
    assert first.json()["created"] is True and first.json()["category"] == "construction"
    again = platform.put("/api/v1/experts/projects", json=project_body())
    assert again.status_code == 200 and again.json()["created"] is False
    assert again.json()["sessions"][0]["id"] == first.json()["sessions"][0]["id"]
    with Session(runtime.engine) as session:
        assert len(session.exec(select(Project)).all()) == 1
        assert len(session.exec(select(ExpertSession)).all()) == 1
        assert len(session.exec(select(RosterEntry)).all()) == 3
        # the burn module's archive got the project too
        archived = session.exec(select(ArchiveProject)).one()
        assert archived.number == "JSGC-2026-018" and archived.rooms == ["P1"]

    later = START + timedelta(days=1)
    moved = platform.put("/api/v1/experts/projects", json=project_body(later))
    out = moved.json()["sessions"][0]
    assert out["status"] == "postponed"
    assert datetime.fromisoformat(out["previous_start"]) == START
    assert datetime.fromisoformat(out["start"]) == later
    row = the_session(runtime)
    assert row.planned_start == later and row.status == "postponed"

    unknown_room = project_body()
    unknown_room["sessions"][0]["rooms"] = ["X9"]
    assert platform.put("/api/v1/experts/projects", json=unknown_room).status_code == 422
    elsewhere = {**project_body(), "centre_id": "zz"}
    assert platform.put("/api/v1/experts/projects", json=elsewhere).status_code == 404


def test_roster_config_has_hashes_and_no_plaintext(
    runtime: ApiTestRuntime, platform: TestClient
) -> None:
    assert platform.put("/api/v1/experts/projects", json=project_body()).status_code == 200
    row = the_session(runtime)
    published = [json.loads(m[1]) for m in runtime.publisher.messages if "/config" in m[0]]
    gate = [p for p in published if p["config"].get("expert_gate")][-1]
    roster = GateRoster.model_validate(gate["config"]["expert_gate"]["roster"])
    key = service.gate_key(runtime.settings.secret_key, "c1")
    assert roster.hash_key == key.hex()
    assert roster.rooms_behind_gate == {"d2": [str(row.rooms[0])]}
    assert [s.session_id for s in roster.sessions] == [str(row.id)]
    people = {p.person_hash: p for p in roster.people if p.person_hash}
    assert people[person_hash(key, ZHANG)].role == "leader"
    assert people[person_hash(key, ZHANG)].label == "张*"
    wang = people[person_hash(key, WANG)]
    assert wang.card_hashes == [card_hash(key, "04A1B2C3")]
    assert any(p.role == "supervisor" and p.card_hashes for p in roster.people)
    recorder = [p for p in published if p["config"].get("recorder")][-1]
    assert recorder["config"]["recorder"]["schedule"][0]["session_id"] == str(row.id)
    # no plaintext anywhere: not in what was published, not in the stored layers
    with Session(runtime.engine) as session:
        layers = json.dumps([d.config for d in session.exec(select(DesiredConfig))])
    everything = json.dumps(published, ensure_ascii=False) + layers
    for secret in (ZHANG, ZHANG.lower(), WANG, PHONE, "张三", "王五", "04A1B2C3", "0499AA"):
        assert secret not in everything


def _fill(sheet_rows: list[list[Any]], data: bytes) -> bytes:
    wb = load_workbook(io.BytesIO(data))
    ws = wb.worksheets[0]
    headers = [str(c.value).lstrip("*") for c in ws[1]]
    for n, values in enumerate(sheet_rows, start=3):
        row = dict(values)
        for col, header in enumerate(headers, start=1):
            ws.cell(n, col, row.get(header))
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _row(name: str, id_number: str, room: str = "P1", role: str = "成员") -> list[Any]:
    return [
        ("项目编号", "ZFCG-2026-7"),
        ("项目名称", "办公设备采购"),
        ("交易类别", "政府采购"),
        ("场次编号", "1"),
        ("评标室", room),
        ("开始时间", "2030-05-06 09:00"),
        ("结束时间", "2030-05-06 12:00"),
        ("人员类别", "评标专家"),
        ("专家角色", role),
        ("姓名", name),
        ("身份证号", id_number),
        ("手机号", "13900000002"),
    ]


def test_xlsx_import_all_or_nothing_with_row_numbers(
    runtime: ApiTestRuntime, anonymous: TestClient, client: TestClient, rooms: None
) -> None:
    form_login(anonymous, "admin", ADMIN_PASSWORD)
    template = anonymous.get("/experts/import/template.xlsx")
    assert template.status_code == 200
    token = csrf_of(anonymous.get("/experts/import").text)

    def upload(data: bytes) -> Any:
        return anonymous.post(
            "/experts/import",
            data={"csrf_token": token, "centre_id": "c1"},
            files={"file": ("roster.xlsx", data)},
        )

    rows = [_row("张三", ZHANG, role="组长"), _row("王五", WANG, room="X9"), _row("李四", "")]
    r = upload(_fill(rows, template.content))
    assert r.status_code == 422
    assert "第 4 行「评标室」：未登记的评标室：X9" in r.text
    assert "第 5 行" in r.text and "至少填写一项" in r.text
    with Session(runtime.engine) as session:
        assert session.exec(select(Project)).all() == []

    good = _fill([_row("张三", ZHANG, role="组长"), _row("王五", WANG)], template.content)
    r = upload(good)
    assert r.status_code == 200 and "ZFCG-2026-7" in r.text
    with Session(runtime.engine) as session:
        project = session.exec(select(Project)).one()
        assert project.category == "procurement" and project.source == "import"
        row = session.exec(select(ExpertSession)).one()
        assert row.planned_start == datetime(2030, 5, 6, 1, 0, tzinfo=UTC)  # 09:00 Shanghai
        entries = session.exec(select(RosterEntry)).all()
        assert sorted(e.role for e in entries) == ["leader", "member"]
    assert upload(good).status_code == 200  # again: nothing doubles
    with Session(runtime.engine) as session:
        assert len(session.exec(select(RosterEntry)).all()) == 2


def test_three_passes_sign_in_once_and_absent_is_flagged(
    runtime: ApiTestRuntime, platform: TestClient, anonymous: TestClient
) -> None:
    assert platform.put("/api/v1/experts/projects", json=project_body()).status_code == 200
    row = the_session(runtime)
    key = service.gate_key(runtime.settings.secret_key, "c1")
    ref = str(row.id)
    at = row.planned_start - timedelta(minutes=40)
    passes = [
        admission(
            at=at + timedelta(minutes=i),
            gate="d2",
            session_id=ref,
            person_hash=person_hash(key, ZHANG),
            room=str(row.rooms[0]),
        )
        for i in range(3)
    ]
    feed_admissions(
        runtime.engine, "c1", settings_of(runtime), runtime.settings.secret_key, *passes
    )
    with Session(runtime.engine) as session:
        assert len(session.exec(select(AccessRecord)).all()) == 3
        signins = session.exec(select(SignIn)).all()
        assert len(signins) == 1 and signins[0].signed_at == at
        zhang = session.get(RosterEntry, signins[0].roster_entry_id)
        assert zhang is not None and zhang.id_number == ZHANG

    # 10 minutes before the start, 王五 has not come: an absence alert for the host
    with Session(runtime.engine) as session:
        raised = jobs.raise_alerts(
            session, runtime.settings, now=row.planned_start - timedelta(minutes=10)
        )
        assert [a.kind for a in raised] == ["absence"]
        assert "1 名专家尚未签到" in raised[0].message and "王*" in raised[0].message
        assert (
            jobs.raise_alerts(
                session, runtime.settings, now=row.planned_start - timedelta(minutes=9)
            )
            == []
        )
        sms = session.exec(select(SmsMessage)).one()  # to the host, through notify
        assert sms.purpose == "experts.absence" and sms.phone == "13800000001"
        assert raised[0].sms_sent
        entries = service.roster(session, row.id or 0)
        done = service.signins(session, row.id or 0)
        after = row.planned_start + timedelta(minutes=1)
        states = {e.name: service.attendance(row, e, done.get(e.id or 0), after) for e in entries}
        assert states["张三"] == "on_time" and states["王五"] == "absent"

    form_login(anonymous, "admin", ADMIN_PASSWORD)
    page = anonymous.get(f"/experts/sessions/{row.id}")
    assert page.status_code == 200
    assert "张*" in page.text and "110***********002X" in page.text and ZHANG not in page.text
    assert "已签到" in page.text and "待签到" in page.text
    assert anonymous.get("/experts/alerts").text.count("尚未签到") == 1


def test_card_admission_and_repeated_refusals(
    runtime: ApiTestRuntime, platform: TestClient
) -> None:
    assert platform.put("/api/v1/experts/projects", json=project_body()).status_code == 200
    row = the_session(runtime)
    key = service.gate_key(runtime.settings.secret_key, "c1")
    at = row.planned_start - timedelta(minutes=5)
    secret = runtime.settings.secret_key
    feed_admissions(
        runtime.engine,
        "c1",
        settings_of(runtime),
        secret,
        admission(at=at, gate="d2", session_id=str(row.id), card_hash=card_hash(key, "04A1B2C3")),
    )
    stranger = person_hash(key, "320102197707077777")
    refused = [
        admission(
            at=at + timedelta(minutes=i * 3),
            gate="d2",
            session_id=None,
            person_hash=stranger,
            decision="refused",
            reason="not_on_roster",
            label="赵*",
        )
        for i in range(4)
    ]
    feed_admissions(runtime.engine, "c1", settings_of(runtime), secret, *refused)
    with Session(runtime.engine) as session:
        signin = session.exec(select(SignIn)).one()
        entry = session.get(RosterEntry, signin.roster_entry_id)
        assert entry is not None and entry.name == "王五"
        alerts = session.exec(select(ExpertAlert)).all()
        assert [a.kind for a in alerts] == ["refused_attempts"]
        assert "3 次" in alerts[0].message


def test_recordings_are_linked_and_a_room_without_recording_raises_an_alert(
    runtime: ApiTestRuntime, platform: TestClient, anonymous: TestClient
) -> None:
    assert platform.put("/api/v1/experts/projects", json=project_body()).status_code == 200
    row = the_session(runtime)
    under_way = row.planned_start + timedelta(minutes=10)
    with Session(runtime.engine) as session:
        raised = jobs.raise_alerts(session, runtime.settings, now=under_way)
        assert "no_recording" in [a.kind for a in raised]
    feed_event(
        runtime.engine,
        "recorder.state",
        {"state": "recording", "session_id": str(row.id), "reason": "schedule"},
        "c1",
        "t1",
        under_way,
    )
    with Session(runtime.engine) as session:
        board = service.rooms_board(session, {"c1"}, now=under_way)
        assert board[0].recording and board[0].terminals_online == 1
    content = bytes(range(256)) * 40
    file_id = str(uuid7())
    runtime.file_store.root.joinpath("files").mkdir(parents=True, exist_ok=True)
    (runtime.file_store.root / "files" / "seg0").write_bytes(content)
    with Session(runtime.engine) as session:
        session.add(
            StoredFile(
                id=file_id,
                name="seg0.mp4",
                size=len(content),
                sha256="0" * 64,
                store_key="files/seg0",
                state=UploadState.COMPLETE,
                centre_id="c1",
                content_type="video/mp4",
                received=len(content),
            )
        )
        session.commit()
    uploaded = {
        "file_id": file_id,
        "upload_id": "u1",
        "name": "seg0.mp4",
        "size": len(content),
        "sha256": "0" * 64,
        "kind": "recording",
        "content_type": "video/mp4",
        "meta": {
            "session_id": str(row.id),
            "started_at": under_way.isoformat(),
            "duration_s": 60.0,
            "index": 0,
            "recorder": "recorder",
        },
    }
    feed_event(runtime.engine, "agent.file_uploaded", uploaded, "c1", "t1", under_way)
    feed_event(runtime.engine, "agent.file_uploaded", uploaded, "c1", "t1", under_way)
    with Session(runtime.engine) as session:
        recording = session.exec(select(Recording)).one()
        assert recording.session_id == row.id and recording.duration_s == 60.0
    form_login(anonymous, "admin", ADMIN_PASSWORD)
    page = anonymous.get(f"/experts/sessions/{row.id}").text
    assert f"/experts/recordings/{recording.id}/content" in page
    part = anonymous.get(
        f"/experts/recordings/{recording.id}/content", headers={"Range": "bytes=100-199"}
    )
    assert part.status_code == 206 and part.content == content[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{len(content)}"


def test_county_users_see_only_their_rooms_and_sessions(
    runtime: ApiTestRuntime, client: TestClient, anonymous: TestClient
) -> None:
    with Session(runtime.engine) as session:
        session.add(Centre(id="c3", name="乙县", parent_id="c1"))
        session.add(Device(id="gB", centre_id="c3", kind="gate"))
        session.commit()
        for name, centre in (("county_a", "c2"), ("county_b", "c3"), ("city", "c1")):
            add_user(session, runtime, name, Role.CENTRE_ADMIN, centre)
    start = (START + timedelta(days=1)).isoformat()
    end = (START + timedelta(days=1, hours=2)).isoformat()
    for centre, code, number in (("c2", "甲评1", "JX-1"), ("c3", "乙评1", "YX-1")):
        room = {"centre_id": centre, "code": code, "name": f"{code}室"}
        assert client.post("/api/v1/experts/rooms", json=room).status_code == 200
        with Session(runtime.engine) as session:
            service.apply_project(
                session,
                service.ProjectIn.model_validate(
                    {
                        "centre_id": centre,
                        "number": number,
                        "name": number,
                        "sessions": [{"rooms": [code], "start": start, "end": end}],
                    }
                ),
                actor=None,
                source="manual",
            )
            session.commit()
    with Session(runtime.engine) as session:
        ids = {p.number: s.id for s, p in service.list_sessions(session, {"c2", "c3"})}
    form_login(anonymous, "county_a", PASSWORD)
    board = anonymous.get("/experts").text
    assert "甲评1" in board and "乙评1" not in board
    listing = anonymous.get("/experts/sessions").text
    assert "JX-1" in listing and "YX-1" not in listing
    assert anonymous.get(f"/experts/sessions/{ids['YX-1']}").status_code == 404
    assert anonymous.get(f"/experts/sessions/{ids['JX-1']}").status_code == 200
    assert anonymous.get("/experts?centre=c3").status_code == 404
    anonymous.cookies.clear()
    form_login(anonymous, "city", PASSWORD)
    listing = anonymous.get("/experts/sessions").text
    assert "JX-1" in listing and "YX-1" in listing
    api = TestClient(client.app)
    r = api.post("/api/v1/auth/login", json={"username": "county_b", "password": PASSWORD})
    api.headers["X-CSRF-Token"] = r.json()["csrf_token"]
    assert [x["code"] for x in api.get("/api/v1/experts/rooms").json()] == ["乙评1"]
    numbers = [x["project_number"] for x in api.get("/api/v1/experts/sessions").json()["items"]]
    assert numbers == ["YX-1"]
    assert api.get(f"/api/v1/experts/sessions/{ids['JX-1']}").status_code == 404


def test_access_log_search_and_masked_export(
    runtime: ApiTestRuntime, platform: TestClient, anonymous: TestClient
) -> None:
    assert platform.put("/api/v1/experts/projects", json=project_body()).status_code == 200
    row = the_session(runtime)
    key = service.gate_key(runtime.settings.secret_key, "c1")
    at = row.planned_start - timedelta(minutes=30)
    feed_admissions(
        runtime.engine,
        "c1",
        settings_of(runtime),
        runtime.settings.secret_key,
        admission(at=at, gate="d2", session_id=str(row.id), person_hash=person_hash(key, ZHANG)),
        admission(at=at, gate="d2", session_id=str(row.id), person_hash=person_hash(key, WANG)),
    )
    form_login(anonymous, "admin", ADMIN_PASSWORD)
    found = anonymous.get("/experts/access-log", params={"q": ZHANG.lower()}).text
    assert "张*" in found and "王*" not in found
    assert "张*" in anonymous.get("/experts/access-log", params={"q": "张三"}).text
    export = anonymous.get("/experts/access-log.xlsx")
    assert export.status_code == 200
    ws = load_workbook(io.BytesIO(export.content)).worksheets[0]
    cells = [str(c.value) for r in ws.iter_rows() for c in r]
    assert "110***********002X" in cells and ZHANG not in cells
    with Session(runtime.engine) as session:
        assert (
            lookup_hash(ZHANG, PiiKind.ID_NUMBER)
            == session.exec(
                select(RosterEntry.id_number_hash).where(RosterEntry.role == "leader")
            ).one()
        )
    audit = anonymous.get("/audit").text
    assert "experts.access_export" in audit


def test_roster_personal_data_is_purged_after_retention(
    runtime: ApiTestRuntime, platform: TestClient
) -> None:
    assert platform.put("/api/v1/experts/projects", json=project_body()).status_code == 200
    row = the_session(runtime)
    with Session(runtime.engine) as session:
        assert service.purge_personal_data(session, 30, now=row.planned_end) == 0
        later = row.planned_end + timedelta(days=31)
        assert service.purge_personal_data(session, 30, now=later) == 3
        entries = session.exec(select(RosterEntry)).all()
        assert all(e.name is None and e.id_number_hash is None for e in entries)
        assert session.get(ExpertSession, row.id).host_phone is None  # type: ignore[union-attr]
        assert service.purge_personal_data(session, 30, now=later) == 0
