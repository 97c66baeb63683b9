"""Menu entries: each module registers its own, the layout shows those the user may open."""

from __future__ import annotations

from dataclasses import dataclass

from collector.auth.models import User
from collector.auth.permissions import has_permission


@dataclass(frozen=True, slots=True)
class MenuEntry:
    key: str  # also the label key (collector.console.i18n)
    path: str
    permission: str
    order: int = 100


MENU: list[MenuEntry] = []


def register_menu(*entries: MenuEntry) -> None:
    """Add menu entries (a module calls this when its pages are included)."""
    known = {e.key for e in MENU}
    for entry in entries:
        if entry.key in known:
            raise ValueError(f"menu entry {entry.key!r} registered twice")
        MENU.append(entry)
        known.add(entry.key)
    MENU.sort(key=lambda e: (e.order, e.key))


def menu_for(user: User) -> list[MenuEntry]:
    return [e for e in MENU if has_permission(user, e.permission)]


register_menu(
    MenuEntry("devices", "/devices", "devices.view", 10),
    MenuEntry("events", "/events", "events.view", 20),
    MenuEntry("dead_letters", "/dead-letters", "deadletters.view", 30),
    MenuEntry("audit", "/audit", "audit.view", 80),
    MenuEntry("users", "/users", "users.manage", 90),
    MenuEntry("tokens", "/tokens", "users.manage", 92),
    MenuEntry("centres", "/centres", "centres.manage", 95),
)
