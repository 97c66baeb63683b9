"""The console over the same app and database as the API tests (``tests/api/conftest.py``)."""

from __future__ import annotations

import pytest
from sqlmodel import Session

from collector.auth.permissions import Role
from collector.auth.service import create_api_token
from collector.centres.models import Centre
from collector.devices.models import Device
from tests.api.conftest import anonymous, app, client, runtime
from tests.api.support import ApiTestRuntime
from tests.console.support import OTHER_IDS, add_user
from tests.modules.burn.support import other_county_burn
from tests.modules.experts.support import other_county_experts
from tests.modules.venues.support import other_county_venues

__all__ = ["anonymous", "app", "client", "county_user", "runtime"]


@pytest.fixture
def county_user(runtime: ApiTestRuntime) -> str:
    """A centre admin of c2, and a sibling county c3 with a device, a user and a token
    (their ids in ``OTHER_IDS``, for the route walk)."""
    with Session(runtime.engine) as session:
        session.add(Centre(id="c3", name="乙县", parent_id="c1"))
        session.add(Device(id="dB", centre_id="c3", kind="gate"))
        session.commit()
        add_user(session, runtime, "county", Role.CENTRE_ADMIN, "c2")
        other = add_user(session, runtime, "opb", Role.OPERATOR, "c3")
        token, _ = create_api_token(
            session, name="tokB", centre_id="c3", permissions=["devices.view"]
        )
        OTHER_IDS.update(user_id=str(other.id), token_id=str(token.id))
    OTHER_IDS.update(other_county_venues(runtime.engine))
    OTHER_IDS.update(other_county_burn(runtime.engine))
    OTHER_IDS.update(other_county_experts(runtime.engine))
    return "county"
