from __future__ import annotations

from datetime import timedelta

import pytest
from argon2 import PasswordHasher
from sqlmodel import Session, select

from collector.auth import service
from collector.auth.audit import AuditAction, audit
from collector.auth.models import ApiToken, AuditEntry, User, UserSession
from collector.auth.permissions import (
    Permission,
    Role,
    UnknownPermission,
    has_permission,
    permissions_of,
)
from collector.auth.service import (
    AccountDisabled,
    AccountLocked,
    GrantDenied,
    InvalidCredentials,
    UserExists,
    WeakPassword,
    authenticate,
    create_api_token,
    create_user,
    end_session,
    purge_expired_sessions,
    resolve_api_token,
    resolve_session,
    revoke_api_token,
    set_password,
    start_session,
    update_user,
)
from collector.db_types import utcnow

PW = "Correct-horse-9"


def make_user(db: Session, policy, name="alice", role=Role.OPERATOR, centre="city-a", **kw):
    return create_user(
        db, username=name, password=PW, role=role, centre_id=centre, policy=policy, **kw
    )


def actions(db: Session) -> list[str]:
    return [e.action for e in db.exec(select(AuditEntry).order_by(AuditEntry.id)).all()]


def test_login_succeeds_normalises_username_and_is_audited(db, policy):
    user = make_user(db, policy, name="Alice", display_name="爱丽丝")
    assert user.username == "alice"
    assert user.password_hash.startswith("$argon2id$")
    got = authenticate(db, "  ALICE ", PW, "10.0.0.5", policy=policy)
    assert got.id == user.id
    assert got.last_login_at is not None
    login = db.exec(select(AuditEntry).where(AuditEntry.action == AuditAction.LOGIN)).one()
    assert (login.actor_user_id, login.actor_name, login.ip) == (user.id, "alice", "10.0.0.5")
    assert login.centre_id == "city-a"


def test_lockout_after_failures_then_expires(db, policy):
    make_user(db, policy)
    t0 = utcnow()
    for _ in range(policy.max_failed_attempts - 1):
        with pytest.raises(InvalidCredentials):
            authenticate(db, "alice", "wrong", policy=policy, now=t0)
    assert db.exec(select(User)).one().failed_attempts == policy.max_failed_attempts - 1

    with pytest.raises(AccountLocked) as locked:  # the failure that locks says so
        authenticate(db, "alice", "wrong", policy=policy, now=t0)
    assert locked.value.until == t0 + policy.lockout
    # Even the right password is refused while locked.
    with pytest.raises(AccountLocked):
        authenticate(db, "alice", PW, policy=policy, now=t0 + policy.lockout - timedelta(seconds=1))

    user = authenticate(db, "alice", PW, policy=policy, now=t0 + policy.lockout)
    assert (user.failed_attempts, user.locked_until) == (0, None)
    assert AuditAction.LOGIN_LOCKED in actions(db)


def test_success_resets_failure_count(db, policy):
    make_user(db, policy)
    for _ in range(policy.max_failed_attempts - 1):
        with pytest.raises(InvalidCredentials):
            authenticate(db, "alice", "wrong", policy=policy)
    authenticate(db, "alice", PW, policy=policy)
    with pytest.raises(InvalidCredentials):  # a fresh count, not a lock
        authenticate(db, "alice", "wrong", policy=policy)


def test_failure_count_survives_caller_rollback(sqlite_engine, policy):
    # The route's session scope rolls back on the exception; the count must already be stored.
    with Session(sqlite_engine) as s:
        from tests.security.conftest import add_centre_tree

        add_centre_tree(s)
        make_user(s, policy)
    with Session(sqlite_engine) as s, pytest.raises(InvalidCredentials):
        try:
            authenticate(s, "alice", "wrong", policy=policy)
        finally:
            s.rollback()
    with Session(sqlite_engine) as s:
        assert s.exec(select(User)).one().failed_attempts == 1


def test_unknown_user_costs_a_verification(sdb, policy, monkeypatch):
    make_user(sdb, policy)
    calls = []
    real = PasswordHasher.verify
    monkeypatch.setattr(
        PasswordHasher, "verify", lambda self, h, p: calls.append(h) or real(self, h, p)
    )
    with pytest.raises(InvalidCredentials):
        authenticate(sdb, "nobody", PW, policy=policy)
    with pytest.raises(InvalidCredentials):
        authenticate(sdb, "alice", "wrong", policy=policy)
    assert len(calls) == 2 and all(h.startswith("$argon2id$") for h in calls)
    failed = sdb.exec(select(AuditEntry).where(AuditEntry.actor_name == "nobody")).one()
    assert failed.action == AuditAction.LOGIN_FAILED and failed.actor_user_id is None


def test_disabled_user_is_told_only_after_the_right_password(sdb, policy):
    make_user(sdb, policy, enabled=False)
    with pytest.raises(InvalidCredentials):
        authenticate(sdb, "alice", "wrong", policy=policy)
    with pytest.raises(AccountDisabled):
        authenticate(sdb, "alice", PW, policy=policy)


def test_password_is_rehashed_when_the_policy_cost_changes(sdb, policy):
    user = make_user(sdb, policy)
    old = user.password_hash
    stronger = policy.model_copy(update={"argon2_time_cost": 2})
    authenticate(sdb, "alice", PW, policy=stronger)
    assert user.password_hash != old and "t=2" in user.password_hash
    authenticate(sdb, "alice", PW, policy=stronger)


def test_create_user_validation(sdb, policy):
    make_user(sdb, policy)
    with pytest.raises(UserExists):
        make_user(sdb, policy, name="ALICE")
    with pytest.raises(WeakPassword):
        create_user(
            sdb, username="bob", password="short", role="operator", centre_id="prov", policy=policy
        )
    with pytest.raises(WeakPassword):
        create_user(
            sdb,
            username="bob",
            password="alllowercase1",
            role="operator",
            centre_id="prov",
            policy=policy,
        )
    with pytest.raises(ValueError, match="needs a centre"):
        create_user(sdb, username="bob", password=PW, role=Role.AUDITOR, policy=policy)
    with pytest.raises(UnknownPermission):
        make_user(sdb, policy, name="bob", extra_permissions=["devices.destroy"])
    with pytest.raises(ValueError):
        make_user(sdb, policy, name="bad name")
    root = create_user(sdb, username="root", password=PW, role="system_admin", policy=policy)
    assert root.centre_id is None


def test_permissions_role_extras_and_disabled(sdb, policy):
    op = make_user(sdb, policy, extra_permissions=["export", "personal_data.view"])
    assert has_permission(op, Permission.DEVICES_COMMAND)
    assert has_permission(op, "export") and has_permission(op, "personal_data.view")
    assert not has_permission(op, "users.manage")
    admin = make_user(sdb, policy, name="root", role=Role.SYSTEM_ADMIN, centre=None)
    assert has_permission(admin, "centres.manage")
    assert not has_permission(admin, "personal_data.view")  # granted one by one, never by role
    update_user(sdb, op, enabled=False)
    assert permissions_of(op) == frozenset()


def test_grants_cannot_escalate(db, policy):
    admin = make_user(db, policy, name="cityadmin", role=Role.CENTRE_ADMIN, centre="city-a")
    # Inside its subtree, with its own permissions: fine.
    make_user(db, policy, name="op1", centre="county-a1", actor=admin)
    with pytest.raises(GrantDenied):  # sideways
        make_user(db, policy, name="op2", centre="city-b", actor=admin)
    with pytest.raises(GrantDenied):  # upwards
        make_user(db, policy, name="op3", centre="prov", actor=admin)
    with pytest.raises(GrantDenied):  # a role above its own
        make_user(db, policy, name="sa", role=Role.SYSTEM_ADMIN, centre="city-a", actor=admin)
    with pytest.raises(GrantDenied):  # a permission it does not hold
        make_user(db, policy, name="op4", extra_permissions=["personal_data.view"], actor=admin)
    op = db.exec(select(User).where(User.username == "op1")).one()
    with pytest.raises(GrantDenied):  # an operator manages nobody
        make_user(db, policy, name="op5", centre="county-a1", actor=op)
    create_event = db.exec(
        select(AuditEntry).where(AuditEntry.action == AuditAction.USER_CREATE)
    ).all()
    assert [e.actor_name for e in create_event] == ["system", "cityadmin"]


def test_session_lifecycle_and_sliding_idle_timeout(db, policy):
    user = make_user(db, policy)
    t0 = utcnow()
    token = start_session(db, user, ip="10.0.0.9", user_agent="pytest", policy=policy, now=t0)
    stored = db.exec(select(UserSession)).one()
    assert stored.token_hash != token and token not in stored.token_hash
    assert resolve_session(db, token, policy=policy, now=t0).id == user.id
    assert resolve_session(db, "forged", policy=policy, now=t0) is None

    # Activity slides the idle timeout ...
    step = policy.session_idle * 0.8
    t = t0
    for _ in range(3):
        t += step
        assert resolve_session(db, token, policy=policy, now=t) is not None
    # ... but inactivity ends it, and the row goes.
    assert resolve_session(db, token, policy=policy, now=t + policy.session_idle) is None
    assert db.exec(select(UserSession)).first() is None


def test_session_absolute_lifetime(sdb, policy):
    user = make_user(sdb, policy)
    t0 = utcnow()
    token = start_session(sdb, user, policy=policy, now=t0)
    t = t0
    while t + policy.session_idle / 2 < t0 + policy.session_absolute:
        t += policy.session_idle / 2
        assert resolve_session(sdb, token, policy=policy, now=t) is not None
    assert resolve_session(sdb, token, policy=policy, now=t0 + policy.session_absolute) is None


def test_touch_interval_limits_writes(sdb, policy):
    lazy = policy.model_copy(update={"session_touch_seconds": 60})
    user = make_user(sdb, policy)
    t0 = utcnow()
    token = start_session(sdb, user, policy=lazy, now=t0)
    resolve_session(sdb, token, policy=lazy, now=t0 + timedelta(seconds=30))
    assert sdb.exec(select(UserSession)).one().last_seen_at == t0
    resolve_session(sdb, token, policy=lazy, now=t0 + timedelta(seconds=61))
    assert sdb.exec(select(UserSession)).one().last_seen_at == t0 + timedelta(seconds=61)


def test_logout_disable_and_password_change_end_sessions(sdb, policy):
    user = make_user(sdb, policy)
    token = start_session(sdb, user, policy=policy)
    assert end_session(sdb, token) is True
    assert end_session(sdb, token) is False
    assert resolve_session(sdb, token, policy=policy) is None

    token = start_session(sdb, user, policy=policy)
    set_password(sdb, user, "Another-pass-7", actor=user, policy=policy)
    assert resolve_session(sdb, token, policy=policy) is None
    authenticate(sdb, "alice", "Another-pass-7", policy=policy)

    token = start_session(sdb, user, policy=policy)
    update_user(sdb, user, enabled=False)
    assert resolve_session(sdb, token, policy=policy) is None
    entry = sdb.exec(select(AuditEntry).where(AuditEntry.action == AuditAction.USER_UPDATE)).one()
    assert entry.detail["changes"] == {"enabled": {"from": True, "to": False}}


def test_purge_expired_sessions(sdb, policy):
    user = make_user(sdb, policy)
    t0 = utcnow()
    start_session(sdb, user, policy=policy, now=t0 - policy.session_absolute)
    start_session(sdb, user, policy=policy, now=t0 - policy.session_idle)
    keep = start_session(sdb, user, policy=policy, now=t0)
    assert purge_expired_sessions(sdb, policy=policy, now=t0) == 2
    assert resolve_session(sdb, keep, policy=policy, now=t0) is not None


def test_api_token_lifecycle(db, policy):
    admin = make_user(db, policy, name="cityadmin", role=Role.CENTRE_ADMIN)
    row, secret = create_api_token(
        db, name="大屏", centre_id="county-a1", permissions=["events.view"], created_by=admin
    )
    assert secret.startswith("prtc_") and row.token_prefix == secret[:12]
    stored = db.exec(select(ApiToken)).one()
    assert stored.token_hash != secret and secret not in stored.token_hash

    got = resolve_api_token(db, secret, policy=policy)
    assert got is not None and got.id == row.id and got.last_used_at is not None
    assert has_permission(got, "events.view") and not has_permission(got, "devices.view")
    assert resolve_api_token(db, secret[:-1] + "x", policy=policy) is None
    assert resolve_api_token(db, "not-a-token", policy=policy) is None

    revoke_api_token(db, row.id, actor=admin)
    assert resolve_api_token(db, secret, policy=policy) is None
    assert not has_permission(got, "events.view")
    assert actions(db)[-2:] == [AuditAction.TOKEN_CREATE, AuditAction.TOKEN_REVOKE]


def test_api_token_expiry_and_grant_limits(sdb, policy):
    admin = make_user(sdb, policy, name="cityadmin", role=Role.CENTRE_ADMIN)
    _, secret = create_api_token(
        sdb, name="t", centre_id="city-a", permissions=[], expires_at=utcnow() + timedelta(hours=1)
    )
    assert resolve_api_token(sdb, secret, policy=policy) is not None
    assert resolve_api_token(sdb, secret, policy=policy, now=utcnow() + timedelta(hours=2)) is None
    with pytest.raises(GrantDenied):
        create_api_token(sdb, name="t", centre_id="city-b", permissions=[], created_by=admin)
    with pytest.raises(GrantDenied):
        create_api_token(
            sdb, name="t", centre_id="city-a", permissions=["personal_data.view"], created_by=admin
        )
    with pytest.raises(UnknownPermission):
        create_api_token(sdb, name="t", centre_id="city-a", permissions=["root"])


def test_audit_helper_names_the_actor(sdb, policy):
    user = make_user(sdb, policy)
    token, _ = create_api_token(sdb, name="etl", centre_id="city-a", permissions=["export"])
    audit(
        sdb,
        actor=user,
        action="visitors.export",
        target_type="visitor",
        target_id=7,
        centre_id="city-a",
        detail={"rows": 12},
    )
    audit(sdb, actor=token, action="export")
    sdb.commit()
    a, b = sdb.exec(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(2)).all()[::-1]
    assert (a.actor_name, a.actor_user_id, a.target_id, a.detail) == (
        "alice",
        user.id,
        "7",
        {"rows": 12},
    )
    assert (b.actor_name, b.actor_token_id, b.actor_user_id) == ("token:etl", token.id, None)


def test_service_exports():
    for name in service.__all__:
        assert hasattr(service, name)
