"""Console page of the notify module: the SMS send log (phones masked)."""

from __future__ import annotations

from fastapi import APIRouter, Response

from collector.api.deps import SessionDep
from collector.console.deps import Page, page_permission
from collector.console.i18n import add_labels
from collector.console.menu import MenuEntry, register_menu
from collector.modules.notify import service
from collector.security.personal_data import mask_phone

router = APIRouter(include_in_schema=False)
add_labels(
    {
        "notify.sms": ("短信发送记录", "SMS log"),
        "notify.purpose": ("用途", "Purpose"),
        "notify.phone": ("手机号", "Phone"),
        "notify.text": ("短信内容", "Text"),
        "notify.status": ("状态", "Status"),
        "notify.attempts": ("尝试次数", "Attempts"),
        "notify.error": ("最后错误", "Last error"),
        "notify.sent_at": ("发送时间", "Sent at"),
        "notify.created_at": ("创建时间", "Created"),
        "notify.status.pending": ("待发送", "Pending"),
        "notify.status.sent": ("已发送", "Sent"),
        "notify.status.failed": ("发送失败", "Failed"),
    }
)
register_menu(MenuEntry("notify.sms", "/sms-log", "notify.view", order=78))


@router.get("/sms-log", dependencies=[page_permission("notify.view")])
def sms_log_page(page: Page, session: SessionDep, offset: int = 0) -> Response:
    rows, total = service.list_sms(
        session,
        centre_ids=page.visible,
        include_unowned=page.user.role == "system_admin",
        limit=50,
        offset=max(offset, 0),
    )
    messages = [
        {
            "created_at": m.created_at,
            "purpose": m.purpose,
            "phone": mask_phone(m.phone),
            "text": m.text,
            "status": m.status,
            "attempts": m.attempts,
            "error": m.last_error,
            "sent_at": m.sent_at,
        }
        for m in rows
    ]
    return page.render(
        "notify/sms_log.html", messages=messages, total=total, offset=offset, limit=50, query=""
    )
