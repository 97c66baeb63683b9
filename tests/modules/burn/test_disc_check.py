"""Commands about one disc of the archive: a re-verify that found another disc in the drive
(the asked-for disc's command fails with the reason, and neither disc's verify result
changes), and a label printed again."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from collector.auth.models import AuditEntry
from collector.commands.models import Command, CommandState
from collector.modules.burn.models import ArchiveProject, BurnJob, Disc, VerifyResult
from contract.payloads.burn import PrintLabelArgs
from tests.api.support import ApiTestRuntime
from tests.console.support import csrf_of

from .test_jobs import T0, bus_for, deliver, disc, tick


def test_a_wrong_disc_in_the_drive_marks_no_disc_bad(
    client: TestClient, runtime: ApiTestRuntime, projects: list[ArchiveProject]
) -> None:
    assert tick(client, [projects[0].id or 0]).status_code == 303
    with Session(runtime.engine) as session:
        job_id = session.exec(select(BurnJob)).one().id
    bus = bus_for(runtime)
    asked, found = disc(job_id, "archive"), disc(job_id, "offsite")
    found["volume_id"] = "GC2026001_O1"
    for payload in (asked, found):
        deliver(runtime, bus, "burn.disc", payload, T0)
    deliver(runtime, bus, "burn.drive_state", {"drive": "sr0", "device": "/dev/sr0",
                                               "state": "idle"}, T0)  # fmt: skip
    token = csrf_of(client.get(f"/burn/discs/{asked['disc_id']}").text)
    r = client.post(
        f"/burn/discs/{asked['disc_id']}/reverify",
        data={"csrf_token": token, "drive": "burn1|sr0"},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    check = {
        "drive": "sr0",
        "disc_id": asked["disc_id"],
        "outcome": "wrong_disc",
        "found_disc_id": found["disc_id"],
        "job_id": job_id,
        "project_number": "GC-2026-001",
        "volume_id": "GC2026001_O1",
        "disc_index": 1,
        "ok": False,
        "files_checked": 0,
        "detail": "wrong disc",
        "checked_at": T0.isoformat(),
    }
    deliver(runtime, bus, "burn.disc_check", check, T0)
    with Session(runtime.engine) as session:
        rows = {d: session.get(Disc, d) for d in (asked["disc_id"], found["disc_id"])}
        for row in rows.values():  # neither was read: both keep their burn-time result
            assert row is not None and row.verify == VerifyResult.OK
            assert row.last_verified_at == T0 and row.next_verify_due is not None
        row = rows[asked["disc_id"]]
        assert row is not None and row.reverify_command_id is not None
        command = session.get(Command, row.reverify_command_id)
        assert command is not None and command.state == CommandState.FAILED
        assert command.message.startswith("驱动器中的光盘不是所要求的光盘")
        assert "GC2026001_O1" in command.message
    page = client.get(f"/burn/discs/{asked['disc_id']}").text
    assert "驱动器中的光盘不是所要求的光盘" in page


def test_a_label_is_printed_again_from_the_archive_record(
    client: TestClient,
    operator: TestClient,
    runtime: ApiTestRuntime,
    projects: list[ArchiveProject],
) -> None:
    assert tick(client, [projects[0].id or 0], label_lines="保存期限：永久").status_code == 303
    with Session(runtime.engine) as session:
        job_id = session.exec(select(BurnJob)).one().id
    burned = disc(job_id, "offsite")
    deliver(runtime, bus_for(runtime), "burn.disc", burned, T0)
    token = csrf_of(client.get(f"/burn/discs/{burned['disc_id']}").text)
    form = {"csrf_token": token, "station_id": "burn1"}
    url = f"/burn/discs/{burned['disc_id']}/print-label"
    r = client.post(url, data=form, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].endswith("?label=sent")
    with Session(runtime.engine) as session:
        command = session.exec(select(Command).where(Command.action == "burner.print_label")).one()
        audited = session.exec(
            select(AuditEntry).where(AuditEntry.action == "burn.label_reprint")
        ).one()
    assert command.device_id == "burn1" and audited.target_id == burned["disc_id"]
    args = PrintLabelArgs.model_validate(command.args)
    assert str(args.disc_id) == burned["disc_id"] and args.volume_id == burned["volume_id"]
    assert (args.copy_role, args.disc_index) == ("offsite", burned["disc_index"])
    assert args.project.name == projects[0].name and args.label.lines == ["保存期限：永久"]
    assert "已发送到刻录工作站打印" in client.get(r.headers["location"]).text
    # the API: another centre's station is refused, another centre's disc is not found
    api = f"/api/v1/burn/discs/{burned['disc_id']}/print-label"
    assert client.post(api, json={"station_id": "d1"}).status_code == 422
    assert client.post(api, json={}).status_code == 202  # the station that burned it
    with Session(runtime.engine) as session:  # the disc belongs to the city centre now
        row = session.get(Disc, burned["disc_id"])
        assert row is not None
        row.centre_id = "c1"
        session.add(row)
        session.commit()
    token = csrf_of(operator.get("/burn").text)  # a county operator
    r = operator.post(url, data={**form, "csrf_token": token})
    assert r.status_code == 404
