"""Roles, permission strings and the role → permission table.

A permission is a dotted string (``devices.view``); the console maps menus and the API maps
routes to permissions, never to roles. A user holds the permissions of their role plus any
granted one by one (``User.extra_permissions``); an API token holds exactly the permissions
it was created with. A module that needs a new permission adds it to :class:`Permission` and
to the roles that should have it here, in this one table.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collector.auth.models import ApiToken, User


class Role(StrEnum):
    SYSTEM_ADMIN = "system_admin"
    CENTRE_ADMIN = "centre_admin"
    OPERATOR = "operator"
    SUPERVISOR_UNIT = "supervisor_unit"
    AUDITOR = "auditor"


class Permission(StrEnum):
    DEVICES_VIEW = "devices.view"
    DEVICES_COMMAND = "devices.command"
    DEVICES_MANAGE = "devices.manage"
    USERS_MANAGE = "users.manage"
    AUDIT_VIEW = "audit.view"
    EVENTS_VIEW = "events.view"
    DEADLETTERS_VIEW = "deadletters.view"
    CENTRES_MANAGE = "centres.manage"
    PERSONAL_DATA_VIEW = "personal_data.view"
    EXPORT = "export"
    VISITORS_VIEW = "visitors.view"
    VISITORS_TRACE = "visitors.trace"
    VISITORS_RULES = "visitors.rules"
    VENUES_VIEW = "venues.view"
    VENUES_MANAGE = "venues.manage"
    VENUES_UNITS = "venues.units"
    VENUES_IMPORT = "venues.import"
    VENUES_THRESHOLDS = "venues.thresholds"
    VENUES_SCANS = "venues.scans"
    VENUES_STATS = "venues.stats"
    VENUES_ALERTS = "venues.alerts"
    NOTIFY_VIEW = "notify.view"
    BURN_VIEW = "burn.view"
    BURN_OPERATE = "burn.operate"
    BURN_MANAGE = "burn.manage"
    EXPERTS_VIEW = "experts.view"
    EXPERTS_MANAGE = "experts.manage"
    EXPERTS_PUSH = "experts.push"
    EXPERTS_ACCESS_LOG = "experts.access_log"


ROLE_LABELS: dict[Role, tuple[str, str]] = {
    Role.SYSTEM_ADMIN: ("系统管理员", "System administrator"),
    Role.CENTRE_ADMIN: ("中心管理员", "Centre administrator"),
    Role.OPERATOR: ("操作员", "Operator"),
    Role.SUPERVISOR_UNIT: ("监管单位", "Supervising unit"),
    Role.AUDITOR: ("审计员", "Auditor"),
}

PERMISSION_LABELS: dict[Permission, tuple[str, str]] = {
    Permission.DEVICES_VIEW: ("查看设备", "View devices"),
    Permission.DEVICES_COMMAND: ("下发设备指令", "Send device commands"),
    Permission.DEVICES_MANAGE: ("设备登记与启停", "Enrol, enable and disable devices"),
    Permission.USERS_MANAGE: ("用户管理", "Manage users"),
    Permission.AUDIT_VIEW: ("查看审计日志", "View the audit log"),
    Permission.EVENTS_VIEW: ("查看事件", "View events"),
    Permission.DEADLETTERS_VIEW: ("查看异常消息", "View dead letters"),
    Permission.CENTRES_MANAGE: ("中心管理", "Manage centres"),
    Permission.PERSONAL_DATA_VIEW: ("查看个人信息明文", "View unmasked personal data"),
    Permission.EXPORT: ("导出数据", "Export data"),
    Permission.VISITORS_VIEW: ("来访登记查询", "View visits and occupancy"),
    Permission.VISITORS_TRACE: ("密切接触人员追溯", "Contact tracing"),
    Permission.VISITORS_RULES: ("入口核验规则管理", "Manage entrance rules and watch list"),
    Permission.VENUES_VIEW: ("查看场所信息", "View venues"),
    Permission.VENUES_MANAGE: ("场所信息管理", "Manage the venue registry"),
    Permission.VENUES_UNITS: ("监管单位管理", "Manage supervising units"),
    Permission.VENUES_IMPORT: ("扫码进场信息管理", "Import and delete scan records"),
    Permission.VENUES_THRESHOLDS: ("场所人流量阈值管理", "Set venue flow thresholds"),
    Permission.VENUES_SCANS: ("扫码进场信息查询", "Query scan records"),
    Permission.VENUES_STATS: ("扫码统计查询", "Scan statistics"),
    Permission.VENUES_ALERTS: ("“扫码”预警", "Scan alerts"),
    Permission.NOTIFY_VIEW: ("短信发送记录", "View the SMS log"),
    Permission.BURN_VIEW: ("查看刻录与光盘档案", "View burn jobs and the disc archive"),
    Permission.BURN_OPERATE: ("刻录任务操作", "Create, retry and cancel burn jobs"),
    Permission.BURN_MANAGE: ("刻录计划与档案管理", "Manage burn schedules and the archive"),
    Permission.EXPERTS_VIEW: ("查看评标室与场次", "View rooms, sessions and sign-ins"),
    Permission.EXPERTS_MANAGE: ("交易项目与场次管理", "Manage projects, sessions and rosters"),
    Permission.EXPERTS_PUSH: ("交易平台推送接口", "Trading-platform push API"),
    Permission.EXPERTS_ACCESS_LOG: ("专家门禁通行记录", "Expert gate access log"),
}

_ALL = frozenset(Permission)

# Unmasked personal data is never part of a role, not even the system administrator's:
# under the PIPL's "minimum necessary" rule it is granted to named people one by one
# (and every grant lands in the audit log).
ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.SYSTEM_ADMIN: _ALL - {Permission.PERSONAL_DATA_VIEW},
    Role.CENTRE_ADMIN: frozenset(
        {
            Permission.DEVICES_VIEW,
            Permission.DEVICES_COMMAND,
            Permission.DEVICES_MANAGE,
            Permission.USERS_MANAGE,
            Permission.AUDIT_VIEW,
            Permission.EVENTS_VIEW,
            Permission.DEADLETTERS_VIEW,
            Permission.CENTRES_MANAGE,
            Permission.EXPORT,
            Permission.VISITORS_VIEW,
            Permission.VISITORS_TRACE,
            Permission.VISITORS_RULES,
            Permission.BURN_VIEW,
            Permission.BURN_OPERATE,
            Permission.BURN_MANAGE,
        }
    ),
    Role.OPERATOR: frozenset(
        {
            Permission.DEVICES_VIEW,
            Permission.VISITORS_VIEW,
            Permission.DEVICES_COMMAND,
            Permission.EVENTS_VIEW,
            Permission.BURN_VIEW,
            Permission.BURN_OPERATE,
        }
    ),
    Role.SUPERVISOR_UNIT: frozenset(
        {Permission.DEVICES_VIEW, Permission.EVENTS_VIEW, Permission.EXPORT}
    ),
    Role.AUDITOR: frozenset(
        {
            Permission.AUDIT_VIEW,
            Permission.EVENTS_VIEW,
            Permission.DEVICES_VIEW,
            Permission.BURN_VIEW,
        }
    ),
}


# The venues module (seed 001): the data bureau (运维单位, centre administrators) keeps the
# registry, the units and the scan imports; a supervising unit (监管单位) sets its venues'
# thresholds, queries scans and statistics, and receives alerts, only for its own venues.
ROLE_PERMISSIONS[Role.CENTRE_ADMIN] |= {
    Permission.VENUES_VIEW,
    Permission.VENUES_MANAGE,
    Permission.VENUES_UNITS,
    Permission.VENUES_IMPORT,
    Permission.VENUES_SCANS,
    Permission.VENUES_STATS,
    Permission.VENUES_ALERTS,
    Permission.NOTIFY_VIEW,
}
ROLE_PERMISSIONS[Role.SUPERVISOR_UNIT] |= {
    Permission.VENUES_VIEW,
    Permission.VENUES_THRESHOLDS,
    Permission.VENUES_SCANS,
    Permission.VENUES_STATS,
    Permission.VENUES_ALERTS,
}

# The experts module: centre administrators run projects, sessions and rosters; operators
# watch the rooms; the trading platform pushes with a token holding experts.push.
ROLE_PERMISSIONS[Role.CENTRE_ADMIN] |= {
    Permission.EXPERTS_VIEW,
    Permission.EXPERTS_MANAGE,
    Permission.EXPERTS_ACCESS_LOG,
}
ROLE_PERMISSIONS[Role.OPERATOR] |= {Permission.EXPERTS_VIEW}
ROLE_PERMISSIONS[Role.AUDITOR] |= {Permission.EXPERTS_VIEW, Permission.EXPERTS_ACCESS_LOG}


class UnknownPermission(ValueError):
    """A permission string that is not in :class:`Permission`."""


def parse_permissions(values: Iterable[str]) -> list[str]:
    """Validate permission strings; return them sorted and de-duplicated."""
    known = {p.value for p in Permission}
    values = set(values)
    unknown = sorted(values - known)
    if unknown:
        raise UnknownPermission(f"unknown permission(s): {', '.join(unknown)}")
    return sorted(values)


def permissions_of(principal: User | ApiToken) -> frozenset[str]:
    """Every permission a user (role + extras) or an API token (its list) holds.

    A disabled user and a revoked token hold none.
    """
    from collector.auth.models import ApiToken, User  # models import Role from here

    if isinstance(principal, User):
        if not principal.enabled:
            return frozenset()
        return ROLE_PERMISSIONS[Role(principal.role)] | frozenset(principal.extra_permissions)
    if isinstance(principal, ApiToken):
        if principal.revoked_at is not None:
            return frozenset()
        return frozenset(principal.permissions)
    raise TypeError(f"not a user or an API token: {type(principal).__name__}")


def has_permission(principal: User | ApiToken, perm: str) -> bool:
    """True when the user or API token holds ``perm``."""
    return str(perm) in permissions_of(principal)
