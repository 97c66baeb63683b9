from __future__ import annotations

from sqlmodel import select

from collector.auth.models import ApiToken, User
from collector.auth.permissions import Role
from collector.auth.scope import can_see_centre, scoped, subtree_ids, visible_centre_ids
from collector.centres.models import Centre
from collector.db_types import utcnow


def user(role=Role.OPERATOR, centre="city-a", enabled=True) -> User:
    return User(username="u", password_hash="x", role=role, centre_id=centre, enabled=enabled)


def test_user_sees_own_centre_and_descendants(db):
    assert visible_centre_ids(db, user(centre="city-a")) == {"city-a", "county-a1", "town-a1x"}
    assert visible_centre_ids(db, user(centre="town-a1x")) == {"town-a1x"}
    assert visible_centre_ids(db, user(centre="prov")) == {
        "prov",
        "city-a",
        "city-b",
        "county-a1",
        "town-a1x",
    }


def test_system_admin_sees_all_and_the_rest_see_nothing(db):
    everything = {"prov", "city-a", "city-b", "county-a1", "town-a1x", "other"}
    assert visible_centre_ids(db, user(role=Role.SYSTEM_ADMIN, centre=None)) == everything
    assert visible_centre_ids(db, user(centre="city-a", enabled=False)) == set()
    assert visible_centre_ids(db, user(centre=None)) == set()
    assert visible_centre_ids(db, user(centre="no-such-centre")) == set()


def test_api_token_scope(db):
    token = ApiToken(name="t", token_prefix="p", token_hash="h", centre_id="city-b")
    assert visible_centre_ids(db, token) == {"city-b"}
    token.revoked_at = utcnow()
    assert visible_centre_ids(db, token) == set()


def test_scoped_filters_a_select(db):
    ids = visible_centre_ids(db, user(centre="city-a"))
    rows = db.exec(scoped(select(Centre.id), Centre.id, ids)).all()
    assert set(rows) == {"city-a", "county-a1", "town-a1x"}
    assert db.exec(scoped(select(Centre), Centre.id, set())).all() == []
    assert can_see_centre(db, user(centre="city-a"), "county-a1")
    assert not can_see_centre(db, user(centre="city-a"), "city-b")
    assert not can_see_centre(db, user(centre="city-a"), None)


def test_a_cycle_terminates(db):
    a = db.get(Centre, "other")
    db.add(Centre(id="loop", name="loop", parent_id="other"))
    db.flush()
    a.parent_id = "loop"
    db.add(a)
    db.commit()
    assert subtree_ids(db, "other") == {"other", "loop"}
