"""Simplified Chinese first, English on request: ``?lang=en`` (remembered in a cookie)."""

from __future__ import annotations

from fastapi import Request

LANG_COOKIE = "prtc_lang"
LANGUAGES = ("zh", "en")
DEFAULT = "zh"

# key → (Chinese, English). Modules may add their own keys with :func:`add_labels`.
LABELS: dict[str, tuple[str, str]] = {
    "app.title": ("公共资源交易中心 现场管理平台", "Trading centre site platform"),
    "login.title": ("登录", "Log in"),
    "login.username": ("用户名", "Username"),
    "login.password": ("密码", "Password"),
    "login.submit": ("登录", "Log in"),
    "login.expired": ("会话已过期，请重新登录", "Your session has expired; please log in again"),
    "logout": ("退出", "Log out"),
    "lang.switch": ("English", "中文"),
    "devices": ("设备", "Devices"),
    "events": ("事件", "Events"),
    "dead_letters": ("死信", "Dead letters"),
    "audit": ("审计日志", "Audit log"),
    "users": ("用户", "Users"),
    "centres": ("中心", "Centres"),
    "device": ("设备", "Device"),
    "centre": ("中心", "Centre"),
    "kind": ("类型", "Kind"),
    "name": ("名称", "Name"),
    "state": ("状态", "State"),
    "online": ("在线", "Online"),
    "offline": ("离线", "Offline"),
    "last_heartbeat": ("最近心跳", "Last heartbeat"),
    "backlog": ("积压", "Backlog"),
    "config_version": ("配置版本", "Config version"),
    "recent_events": ("最近事件", "Recent events"),
    "recent_commands": ("最近指令", "Recent commands"),
    "send_command": ("下发指令", "Send a command"),
    "action": ("指令", "Action"),
    "args": ("参数 (JSON)", "Arguments (JSON)"),
    "send": ("发送", "Send"),
    "time": ("时间", "Time"),
    "type": ("类型", "Type"),
    "payload": ("内容", "Payload"),
    "filter": ("筛选", "Filter"),
    "previous": ("上一页", "Previous"),
    "next": ("下一页", "Next"),
    "total": ("共", "Total"),
    "reason": ("原因", "Reason"),
    "topic": ("主题", "Topic"),
    "actor": ("操作人", "Actor"),
    "target": ("对象", "Target"),
    "detail": ("详情", "Detail"),
    "role": ("角色", "Role"),
    "display_name": ("姓名", "Display name"),
    "create": ("新建", "Create"),
    "parent": ("上级中心", "Parent centre"),
    "level": ("级别", "Level"),
    "id": ("编号", "ID"),
    "enabled": ("启用", "Enabled"),
    "last_login": ("最近登录", "Last login"),
    "saved": ("已保存", "Saved"),
    "command_sent": ("指令已发送", "Command sent"),
    "forbidden": ("无权访问", "Forbidden"),
    "not_found": ("未找到", "Not found"),
    "live": ("实时", "Live"),
    "tokens": ("API 令牌", "API tokens"),
    "enrol_device": ("登记设备", "Enrol device"),
    "enrol": ("登记", "Enrol"),
    "enrolled": ("设备已登记", "Device enrolled"),
    "broker_password": ("MQTT 代理密码", "Broker password"),
    "shown_once": (
        "仅显示这一次，请立即妥善保存",
        "Shown only this once; store it safely now",
    ),
    "broker_reload_note": (
        "请重新运行 prtc-collector broker-config 并重新加载 MQTT 代理，新密码方可生效",
        "Rerun prtc-collector broker-config and reload the broker for the password to take effect",
    ),
    "device_exists": ("设备编号已存在", "Device id already enrolled"),
    "disabled": ("已停用", "Disabled"),
    "enable": ("启用", "Enable"),
    "disable": ("停用", "Disable"),
    "extra_permissions": ("额外菜单权限", "Extra menu permissions"),
    "save": ("保存", "Save"),
    "unlock": ("解锁", "Unlock"),
    "locked": ("已锁定", "Locked"),
    "permissions": ("权限", "Permissions"),
    "created": ("创建时间", "Created"),
    "last_used": ("最近使用", "Last used"),
    "revoked": ("已吊销", "Revoked"),
    "revoke": ("吊销", "Revoke"),
    "token_created": ("令牌已创建", "Token created"),
    "token_invalid": (
        "请填写名称并至少选择一项权限",
        "Give a name and choose at least one permission",
    ),
    "cannot_disable_self": ("不能停用自己的账号", "You cannot disable your own account"),
}


def add_labels(labels: dict[str, tuple[str, str]]) -> None:
    """For modules: add their own keys (a key may be defined once)."""
    clash = set(labels) & set(LABELS)
    if clash:
        raise ValueError(f"label keys already defined: {sorted(clash)}")
    LABELS.update(labels)


def request_language(request: Request) -> str:
    wanted = request.query_params.get("lang") or request.cookies.get(LANG_COOKIE) or DEFAULT
    return wanted if wanted in LANGUAGES else DEFAULT


def translate(lang: str, key: str) -> str:
    pair = LABELS.get(key)
    if pair is None:
        return key
    return pair[0] if lang == "zh" else pair[1]
