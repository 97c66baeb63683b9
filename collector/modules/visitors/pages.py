"""Console pages of the visitors module: live dashboard, visit search, daily register,
contact tracing and the entrance rules."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Annotated, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from sqlmodel import Session, col, select

from collector.api.deps import PublisherDep, RuntimeDep, SessionDep, client_ip
from collector.auth.audit import audit
from collector.auth.permissions import has_permission
from collector.auth.scope import visible_centre_ids
from collector.centres.models import Centre
from collector.console.deps import CheckedForm, Page, PageContext, PageUser, page_permission
from collector.console.i18n import add_labels
from collector.console.live import live_response
from collector.console.menu import MenuEntry, register_menu
from collector.modules.visitors import reports, rules, service
from collector.modules.visitors.labels import LABELS
from collector.modules.visitors.models import WatchedPerson
from collector.modules.visitors.routes import centres_of
from collector.security.personal_data import PiiKind, mask
from collector.tabular import XLSX_MEDIA_TYPE

router = APIRouter(include_in_schema=False)
add_labels(LABELS)
register_menu(
    MenuEntry("visitors", "/visitors", "visitors.view", 40),
    MenuEntry("visitors.visits", "/visitors/visits", "visitors.view", 41),
    MenuEntry("visitors.trace", "/visitors/trace", "visitors.trace", 42),
    MenuEntry("visitors.rules", "/visitors/rules", "visitors.rules", 43),
)
PAGE_SIZE = 50
CentreParam = Annotated[str | None, Query(max_length=64)]


def _centre_names(session: Session, visible: frozenset[str]) -> list[tuple[str, str]]:
    rows = session.exec(
        select(Centre.id, Centre.name).where(col(Centre.id).in_(sorted(visible)))
    ).all()
    return sorted((cid, name) for cid, name in rows)


def _wanted(centre: str | None, page: PageContext) -> str | None:
    """A centre asked for in the query: None (all visible), or 404 outside the scope."""
    if not centre:
        return None
    if centre not in page.visible:
        raise HTTPException(404, page.t("not_found"))
    return centre


# -- dashboard ----------------------------------------------------------------------------


def dashboard_items(board: service.Dashboard, page_tz: Any) -> dict[str, Any]:
    """The dashboard as live items (id → fields), as the page and the stream use them."""
    items: dict[str, Any] = {
        "totals": {
            "id": "totals",
            "inside": board.inside,
            "today": board.today,
            "flagged": board.flagged_today,
        }
    }
    for c in board.centres:
        items[f"centre:{c.centre_id}"] = {"id": f"centre:{c.centre_id}", **vars(c)}
    for key, bars in (("provinces", board.provinces), ("cities", board.cities)):
        items[key] = {"id": key, "bars": _bars(bars)}
    items["flagged"] = {
        "id": "flagged",
        "rows": [
            {
                k: row[k]
                for k in ("centre_id", "name", "id_number", "origin", "entered_at", "flag_text")
            }
            | {"temperature_c": row["temperature_c"], "decision": row["decision"]}
            for row in (service.visit_row(v, page_tz) for v in board.flagged)
        ],
    }
    return items


def _bars(counts: list[tuple[str, int]]) -> list[dict[str, Any]]:
    top = max((n for _, n in counts), default=0) or 1
    return [{"name": name, "count": n, "pct": round(100 * n / top)} for name, n in counts]


# The swipe → dashboard goal is under 1 s: poll four times a second (a few indexed counts).
DASHBOARD_POLL_S = 0.25


@router.get("/visitors", dependencies=[page_permission("visitors.view")])
def dashboard_page(page: Page, session: SessionDep, centre: CentreParam = None) -> Response:
    wanted = _wanted(centre, page)
    board = service.dashboard(session, centres_of(session, wanted, page.visible), page.tz)
    live = "/console/events/visitors" + (f"?centre={wanted}" if wanted else "")
    return page.render(
        "visitors/dashboard.html",
        board=board,
        items=dashboard_items(board, page.tz),
        centres=_centre_names(session, page.visible),
        centre=wanted or "",
        live=live,
        can_export=has_permission(page.user, "export"),
    )


@router.get("/console/events/visitors", dependencies=[page_permission("visitors.view")])
async def dashboard_events(
    request: Request, user: PageUser, runtime: RuntimeDep, centre: CentreParam = None
) -> Any:
    """The dashboard's numbers, scoped like the page, as server-sent events."""
    engine = runtime.engine
    tz = ZoneInfo(runtime.settings.timezone)

    def snapshot() -> dict[str, Any]:
        with Session(engine) as session:
            visible = frozenset(visible_centre_ids(session, user))
            wanted = centre if centre in visible else None
            if centre and wanted is None:
                return {}
            board = service.dashboard(session, centres_of(session, wanted, visible), tz)
            return dashboard_items(board, tz)

    return live_response(request, runtime, snapshot, interval_s=DASHBOARD_POLL_S)


# -- visit search and the register ---------------------------------------------------------


@router.get("/visitors/visits", dependencies=[page_permission("visitors.view")])
def visits_page(
    page: Page,
    session: SessionDep,
    filters: Annotated[service.VisitFilter, Query()],
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Response:
    wanted = _wanted(filters.centre, page)
    unmasked = has_permission(page.user, "personal_data.view")
    rows, total = service.search_visits(
        session,
        centres_of(session, wanted, page.visible),
        filters,
        page.tz,
        limit=PAGE_SIZE,
        offset=offset,
    )
    if unmasked and rows:
        audit(
            session,
            actor=page.user,
            action="personal_data.view",
            target_type="visits",
            target_id=",".join(str(v.id) for v in rows[:20]),
            ip=client_ip(page.request),
            detail={"page": "visitors.visits", "rows": len(rows)},
        )
        session.commit()
    shown = filters.model_dump(exclude_none=True, mode="json")
    query = urlencode(shown) + "&" if shown else ""
    return page.render(
        "visitors/visits.html",
        rows=[service.visit_row(v, page.tz, unmasked=unmasked) for v in rows],
        total=total,
        offset=offset,
        limit=PAGE_SIZE,
        filters=filters,
        query=query,
        centres=_centre_names(session, page.visible),
        flag_labels=service.FLAG_LABELS,
        today=service.local_today(page.tz).isoformat(),
        can_export=has_permission(page.user, "export"),
    )


@router.get("/visitors/register.xlsx", dependencies=[page_permission("export")])
def register_export(
    page: Page, session: SessionDep, day: date | None = None, centre: CentreParam = None
) -> Response:
    if not has_permission(page.user, "visitors.view"):
        raise HTTPException(403, page.t("forbidden"))
    wanted = _wanted(centre, page)
    day = day or service.local_today(page.tz)
    data = reports.register_xlsx(
        session,
        centres_of(session, wanted, page.visible),
        day,
        page.tz,
        actor=page.user,
        unmasked=has_permission(page.user, "personal_data.view"),
        ip=client_ip(page.request),
    )
    return Response(
        data,
        media_type=XLSX_MEDIA_TYPE,
        headers={"Content-Disposition": reports.content_disposition(f"来访登记簿-{day}.xlsx")},
    )


# -- contact tracing ----------------------------------------------------------------------


def _trace_form(page: PageContext, values: dict[str, str], **extra: Any) -> Response:
    status = extra.pop("status_code", 200)
    return page.render("visitors/trace.html", status_code=status, form=values, **extra)


@router.get("/visitors/trace", dependencies=[page_permission("visitors.trace")])
def trace_page(page: Page, visit_id: str = "") -> Response:
    return _trace_form(page, {"visit_id": visit_id}, result=None, error="")


def _local_dt(value: str, page: PageContext, end: bool = False) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        parsed = datetime.combine(date.fromisoformat(value), time.max if end else time.min)
    return parsed.replace(tzinfo=page.tz) if parsed.tzinfo is None else parsed


def _trace_body(form: Any, page: PageContext) -> tuple[dict[str, str], reports.TraceIn]:
    keys = ("id_number", "visit_id", "start", "end", "reason")
    values = {k: str(form.get(k) or "").strip() for k in keys}
    body = reports.TraceIn(
        id_number=values["id_number"] or None,
        visit_id=int(values["visit_id"]) if values["visit_id"].isdigit() else None,
        start=_local_dt(values["start"], page),
        end=_local_dt(values["end"], page, end=True),
        reason=values["reason"],
    )
    return values, body


def _run_trace(
    page: PageContext, form: Any, session: Session, runtime: Any, exported: bool
) -> tuple[dict[str, str], reports.TraceResult | None, str]:
    values = {k: str(form.get(k) or "") for k in ("id_number", "visit_id", "start", "end")}
    try:
        values, body = _trace_body(form, page)
        result = reports.run_trace(
            session,
            page.visible,
            body,
            page.tz,
            actor=page.user,
            unmasked=has_permission(page.user, "personal_data.view"),
            default_days=runtime.settings.visitors.trace_default_days,
            ip=client_ip(page.request),
            exported=exported,
        )
    except ValidationError as exc:
        return values, None, "；".join(_message(e) for e in exc.errors())
    except ValueError as exc:
        return values, None, str(exc)
    except reports.SubjectNotFound:
        raise HTTPException(404, page.t("not_found")) from None
    values.pop("id_number", None)  # never echo an ID number back into the page
    return values, result, ""


def _message(error: Any) -> str:
    field = error.get("loc", ("",))[-1] if error.get("loc") else ""
    if field == "reason":
        return "请填写查询原因（至少 2 个字）"
    return str(error.get("msg", "")).removeprefix("Value error, ")


@router.post("/visitors/trace", dependencies=[page_permission("visitors.trace")])
def trace_submit(
    page: Page, form: CheckedForm, session: SessionDep, runtime: RuntimeDep
) -> Response:
    values, result, error = _run_trace(page, form, session, runtime, exported=False)
    status = 422 if error else 200
    return _trace_form(page, values, result=result, error=error, status_code=status)


@router.post("/visitors/trace.xlsx", dependencies=[page_permission("visitors.trace")])
def trace_export(
    page: Page, form: CheckedForm, session: SessionDep, runtime: RuntimeDep
) -> Response:
    if not has_permission(page.user, "export"):
        raise HTTPException(403, page.t("forbidden"))
    values, result, error = _run_trace(page, form, session, runtime, exported=True)
    if result is None:
        return _trace_form(page, values, result=None, error=error, status_code=422)
    return Response(
        reports.trace_xlsx(result),
        media_type=XLSX_MEDIA_TYPE,
        headers={"Content-Disposition": reports.content_disposition("密切接触人员.xlsx")},
    )


# -- rules --------------------------------------------------------------------------------


@router.get("/visitors/rules", dependencies=[page_permission("visitors.rules")])
def rules_page(
    page: Page, session: SessionDep, centre: CentreParam = None, error: str = ""
) -> Response:
    centres = _centre_names(session, page.visible)
    wanted = _wanted(centre, page) or (centres[0][0] if centres else None)
    current = rules.current_rules(session, wanted) if wanted else None
    people = rules.watchlist(session, [wanted] if wanted else [])
    return page.render(
        "visitors/rules.html",
        centres=centres,
        centre=wanted or "",
        rules=current,
        regions="\n".join(
            f"{r['prefix']},{r['level']},{r.get('reason', '')}"
            for r in (current.watched_regions if current else [])
        ),
        watchlist=[
            {
                "id": p.id,
                "name": mask(p.name, PiiKind.NAME),
                "id_number": mask(p.id_number, PiiKind.ID_NUMBER),
                "reason": p.reason,
                "action": p.action,
            }
            for p in people
        ],
        agents=rules.agents(session, [wanted] if wanted else []),
        error=error,
    )


def _form_centre(form: Any, page: PageContext) -> str:
    centre = str(form.get("centre_id") or "")
    if centre not in page.visible:
        raise HTTPException(404, page.t("not_found"))
    return centre


def _regions(text: str) -> list[dict[str, Any]]:
    found = []
    for line in text.splitlines():
        parts = [p.strip() for p in line.replace("，", ",").split(",", 2)]
        if not parts[0]:
            continue
        level = int(parts[1]) if len(parts) > 1 and parts[1] in ("1", "2") else 1
        found.append(
            {"prefix": parts[0], "level": level, "reason": parts[2] if len(parts) > 2 else ""}
        )
    return found


def _who(page: PageContext) -> dict[str, Any]:
    return {"actor": page.user, "by": page.user.username, "ip": client_ip(page.request)}


def _back(centre: str, error: str = "") -> Response:
    query = urlencode({"centre": centre, **({"error": error} if error else {})})
    return RedirectResponse(f"/visitors/rules?{query}", status_code=303)


@router.post("/visitors/rules", dependencies=[page_permission("visitors.rules")])
def rules_save(
    page: Page, form: CheckedForm, session: SessionDep, runtime: RuntimeDep, pub: PublisherDep
) -> Response:
    centre = _form_centre(form, page)
    try:
        body = rules.RulesIn(
            centre_id=centre,
            temperature_threshold_c=float(str(form.get("temperature_threshold_c") or "37.3")),
            require_temperature=form.get("require_temperature") == "on",
            auto_admit=form.get("auto_admit") == "on",
            region_class1_action=str(form.get("region_class1_action") or "warn"),  # type: ignore[arg-type]
            region_class2_action=str(form.get("region_class2_action") or "warn"),  # type: ignore[arg-type]
            watched_regions=_regions(str(form.get("watched_regions") or "")),  # type: ignore[arg-type]
        )
    except (ValidationError, ValueError) as exc:
        return _back(centre, f"{page.t('visitors.invalid')}: {str(exc)[:300]}")
    rules.save_rules(session, pub, runtime.settings.secret_key, body, **_who(page))
    return _back(centre)


@router.post("/visitors/rules/push", dependencies=[page_permission("visitors.rules")])
def rules_push(
    page: Page, form: CheckedForm, session: SessionDep, runtime: RuntimeDep, pub: PublisherDep
) -> Response:
    centre = _form_centre(form, page)
    current = rules.current_rules(session, centre)
    if current is None:
        current = rules.save_rules(
            session, pub, runtime.settings.secret_key, rules.RulesIn(centre_id=centre), **_who(page)
        )
    else:
        rules.push(session, pub, runtime.settings.secret_key, current, **_who(page))
    return _back(centre)


@router.post("/visitors/watchlist", dependencies=[page_permission("visitors.rules")])
def watchlist_add(
    page: Page, form: CheckedForm, session: SessionDep, runtime: RuntimeDep, pub: PublisherDep
) -> Response:
    centre = _form_centre(form, page)
    try:
        body = rules.WatchedPersonIn(
            centre_id=centre,
            name=str(form.get("name") or ""),
            id_number=str(form.get("id_number") or ""),
            reason=str(form.get("reason") or ""),
            action=str(form.get("action") or "warn"),  # type: ignore[arg-type]
        )
    except ValidationError:
        return _back(centre, page.t("visitors.invalid"))
    rules.add_watched(session, pub, runtime.settings.secret_key, body, **_who(page))
    return _back(centre)


@router.post("/visitors/watchlist/delete", dependencies=[page_permission("visitors.rules")])
def watchlist_remove(
    page: Page, form: CheckedForm, session: SessionDep, runtime: RuntimeDep, pub: PublisherDep
) -> Response:
    raw = str(form.get("id") or "")
    person = session.get(WatchedPerson, int(raw)) if raw.isdigit() else None
    if person is None or person.centre_id not in page.visible:
        raise HTTPException(404, page.t("not_found"))
    rules.remove_watched(session, pub, runtime.settings.secret_key, person, **_who(page))
    return _back(person.centre_id)
