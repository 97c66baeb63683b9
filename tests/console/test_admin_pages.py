"""Console administration: device enrolment (broker password shown once), enabling and
disabling devices and users, unlocking users, and API tokens."""

from __future__ import annotations

import re
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from collector.auth.models import ApiToken, AuditEntry, User
from collector.auth.permissions import Role
from collector.db_types import utcnow
from collector.devices.models import Device
from tests.api.support import ADMIN_PASSWORD, ApiTestRuntime
from tests.console.support import PASSWORD, add_user, csrf_of, form_login
from tests.support.text import mentions


def actions(runtime: ApiTestRuntime) -> list[str]:
    with Session(runtime.engine) as session:
        return [a.action for a in session.exec(select(AuditEntry)).all()]


def enrol(client: TestClient, **values: str):  # type: ignore[no-untyped-def]
    token = csrf_of(client.get("/devices").text)
    return client.post("/devices", data={"csrf_token": token, **values})


def test_admin_enrols_a_device_and_sees_its_password_once(
    anonymous: TestClient, runtime: ApiTestRuntime
) -> None:
    form_login(anonymous, "admin", ADMIN_PASSWORD)
    page = anonymous.get("/devices").text
    assert "登记设备" in page and 'action="/devices"' in page
    r = enrol(anonymous, centre_id="c2", device_id="dN", kind="gate", name="北门")
    assert r.status_code == 200
    assert r.headers["cache-control"] == "no-store"
    password = re.search(r'<code id="broker-password">([^<]+)</code>', r.text)
    assert password and len(password[1]) >= 16
    assert "prtc-collector broker-config" in r.text
    with Session(runtime.engine) as session:
        device = session.get(Device, "dN")
        assert device is not None and device.centre_id == "c2" and device.name == "北门"
        assert device.broker_password_hash and password[1] not in device.broker_password_hash
        entry = session.exec(select(AuditEntry).where(AuditEntry.action == "device.enrol")).one()
        assert entry.target_id == "dN" and entry.centre_id == "c2"
        assert password[1] not in str(entry.detail)
    assert password[1] not in anonymous.get("/devices").text
    assert password[1] not in anonymous.get("/devices/dN").text


def test_a_duplicate_device_id_is_a_clear_error(anonymous: TestClient) -> None:
    form_login(anonymous, "admin", ADMIN_PASSWORD)
    r = enrol(anonymous, centre_id="c2", device_id="d1", kind="gate")
    assert r.status_code == 422 and "设备编号已存在: d1" in r.text
    anonymous.get("/devices?lang=en")
    r = enrol(anonymous, centre_id="c1", device_id="d1", kind="gate")
    assert r.status_code == 422 and "Device id already enrolled: d1" in r.text
    r = enrol(anonymous, centre_id="c1", device_id="bad id!", kind="gate")
    assert r.status_code == 422 and "invalid device id" in r.text


def test_a_county_admin_enrols_only_into_its_own_centres(
    anonymous: TestClient, runtime: ApiTestRuntime, county_user: str
) -> None:
    form_login(anonymous, county_user, PASSWORD)
    page = anonymous.get("/devices").text
    assert "<option>c2</option>" in page and "<option>c3</option>" not in page
    assert enrol(anonymous, centre_id="c3", device_id="dX", kind="gate").status_code == 404
    assert enrol(anonymous, centre_id="c1", device_id="dX", kind="gate").status_code == 404
    r = enrol(anonymous, centre_id="c2", device_id="dB", kind="gate")  # taken in c3
    assert r.status_code == 422 and "设备编号已存在" in r.text and not mentions(r.text, "c3")
    with Session(runtime.engine) as session:
        assert session.get(Device, "dX") is None
        assert session.get(Device, "dB").centre_id == "c3"  # type: ignore[union-attr]
    assert enrol(anonymous, centre_id="c2", device_id="dY", kind="gate").status_code == 200


def test_enrolment_needs_devices_manage_and_csrf(
    anonymous: TestClient, runtime: ApiTestRuntime
) -> None:
    with Session(runtime.engine) as session:
        add_user(session, runtime, "op1", Role.OPERATOR, "c1")
    form_login(anonymous, "op1", PASSWORD)
    assert 'action="/devices"' not in anonymous.get("/devices").text
    assert enrol(anonymous, centre_id="c1", device_id="dZ", kind="gate").status_code == 403
    token = csrf_of(anonymous.get("/devices/d1").text)
    r = anonymous.post("/devices/d1/enabled", data={"csrf_token": token, "enabled": "0"})
    assert r.status_code == 403
    anonymous.cookies.clear()
    form_login(anonymous, "admin", ADMIN_PASSWORD)
    r = anonymous.post("/devices", data={"centre_id": "c1", "device_id": "dZ", "kind": "gate"})
    assert r.status_code == 403


def test_a_device_is_disabled_and_enabled_from_its_page(
    anonymous: TestClient, runtime: ApiTestRuntime
) -> None:
    form_login(anonymous, "admin", ADMIN_PASSWORD)
    page = anonymous.get("/devices/d1").text
    assert 'id="toggle-enabled">停用<' in page
    data = {"csrf_token": csrf_of(page), "enabled": "0"}
    r = anonymous.post("/devices/d1/enabled", data=data, follow_redirects=False)
    assert r.status_code == 303
    with Session(runtime.engine) as session:
        assert session.get(Device, "d1").enabled is False  # type: ignore[union-attr]
    assert 'id="toggle-enabled">启用<' in anonymous.get("/devices/d1").text
    anonymous.post("/devices/d1/enabled", data={**data, "enabled": "1"})
    with Session(runtime.engine) as session:
        assert session.get(Device, "d1").enabled is True  # type: ignore[union-attr]
    assert actions(runtime).count("device.disable") == 1
    assert actions(runtime).count("device.enable") == 1


def test_api_tokens_are_created_once_used_and_revoked(
    anonymous: TestClient, runtime: ApiTestRuntime
) -> None:
    form_login(anonymous, "admin", ADMIN_PASSWORD)
    page = anonymous.get("/tokens").text
    assert 'data-menu="tokens"' in page and "API 令牌" in page
    data = {
        "csrf_token": csrf_of(page),
        "name": "scada",
        "centre_id": "c2",
        "permissions": ["devices.view", "events.view"],
    }
    r = anonymous.post("/tokens", data=data)
    assert r.status_code == 200
    secret = re.search(r'<code id="new-token">(prtc_[^<]+)</code>', r.text)
    assert secret
    listing = anonymous.get("/tokens").text
    assert "scada" in listing and secret[1] not in listing
    api = anonymous.get("/api/v1/devices", headers={"Authorization": f"Bearer {secret[1]}"})
    assert api.status_code == 200
    assert {d["id"] for d in api.json()["items"]} == {"d3"}
    with Session(runtime.engine) as session:
        row = session.exec(select(ApiToken).where(ApiToken.name == "scada")).one()
        assert row.permissions == ["devices.view", "events.view"]
        assert row.last_used_at is not None
    r = anonymous.post(
        f"/tokens/{row.id}/revoke", data={"csrf_token": data["csrf_token"]}, follow_redirects=False
    )
    assert r.status_code == 303
    with Session(runtime.engine) as session:
        assert session.get(ApiToken, row.id).revoked_at is not None  # type: ignore[union-attr]
    api = anonymous.get("/api/v1/devices", headers={"Authorization": f"Bearer {secret[1]}"})
    assert api.status_code == 401
    assert {"token.create", "token.revoke"} <= set(actions(runtime))
    r = anonymous.post("/tokens", data={**data, "permissions": []})
    assert r.status_code == 422 and "至少选择一项权限" in r.text


def test_a_county_admin_manages_only_its_tokens(anonymous: TestClient, county_user: str) -> None:
    form_login(anonymous, county_user, PASSWORD)
    page = anonymous.get("/tokens").text
    assert "tokB" not in page and "personal_data.view" not in page
    data = {"csrf_token": csrf_of(page), "name": "x", "permissions": ["devices.view"]}
    assert anonymous.post("/tokens", data={**data, "centre_id": "c3"}).status_code == 404
    r = anonymous.post("/tokens", data={**data, "centre_id": "c2", "permissions": "export"})
    assert r.status_code == 200 and "prtc_" in r.text
    r = anonymous.post(
        "/tokens", data={**data, "centre_id": "c2", "permissions": "personal_data.view"}
    )
    assert r.status_code == 422


def test_users_are_disabled_enabled_and_unlocked(
    anonymous: TestClient, runtime: ApiTestRuntime
) -> None:
    with Session(runtime.engine) as session:
        op = add_user(session, runtime, "op2", Role.OPERATOR, "c2")
        op.failed_attempts = 5
        op.locked_until = utcnow() + timedelta(minutes=10)
        session.add(op)
        session.commit()
        op_id, admin_id = op.id, session.exec(select(User).where(User.username == "admin")).one().id
    form_login(anonymous, "admin", ADMIN_PASSWORD)
    page = anonymous.get("/users").text
    assert f'action="/users/{op_id}/unlock"' in page and "已锁定" in page
    assert f'action="/users/{admin_id}/enabled"' not in page  # not oneself
    token = csrf_of(page)
    r = anonymous.post(f"/users/{op_id}/unlock", data={"csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303
    r = anonymous.post(
        f"/users/{op_id}/enabled",
        data={"csrf_token": token, "enabled": "0"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    with Session(runtime.engine) as session:
        op = session.get(User, op_id)
        assert op is not None
        assert op.failed_attempts == 0 and op.locked_until is None and op.enabled is False
    assert f'action="/users/{op_id}/unlock"' not in anonymous.get("/users").text
    anonymous.post(f"/users/{op_id}/enabled", data={"csrf_token": token, "enabled": "1"})
    with Session(runtime.engine) as session:
        assert session.get(User, op_id).enabled is True  # type: ignore[union-attr]
    r = anonymous.post(f"/users/{admin_id}/enabled", data={"csrf_token": token, "enabled": "0"})
    assert r.status_code == 422 and "不能停用自己的账号" in r.text
    assert anonymous.post(f"/users/{op_id}/unlock", data={}).status_code == 403  # no CSRF
    with Session(runtime.engine) as session:
        updates = session.exec(
            select(AuditEntry).where(
                AuditEntry.action == "user.update", AuditEntry.target_id == str(op_id)
            )
        ).all()
    assert len(updates) == 3


def test_menu_permissions_are_granted_per_user_and_take_effect(
    anonymous: TestClient, runtime: ApiTestRuntime
) -> None:
    with Session(runtime.engine) as session:
        op = add_user(session, runtime, "op3", Role.OPERATOR, "c2")
        op_id = op.id
    # An operator's role does not include the audit log.
    form_login(anonymous, "op3", PASSWORD)
    assert anonymous.get("/audit", follow_redirects=False).status_code == 403
    anonymous.post("/logout", data={"csrf_token": csrf_of(anonymous.get("/devices").text)})

    form_login(anonymous, "admin", ADMIN_PASSWORD)
    token = csrf_of(anonymous.get("/users").text)
    r = anonymous.post(
        f"/users/{op_id}/permissions",
        data={"csrf_token": token, "permissions": ["audit.view"]},
        follow_redirects=False,
    )
    assert r.status_code == 303
    with Session(runtime.engine) as session:
        assert session.get(User, op_id).extra_permissions == ["audit.view"]  # type: ignore[union-attr]
        actions = session.exec(select(AuditEntry.action)).all()
    assert any("user" in a for a in actions)
    anonymous.post("/logout", data={"csrf_token": csrf_of(anonymous.get("/devices").text)})

    form_login(anonymous, "op3", PASSWORD)
    assert anonymous.get("/audit").status_code == 200
