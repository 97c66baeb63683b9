"""The core console pages, one module per group; a module's ``pages.py`` follows the same
pattern: a router, one ``page_permission`` per page, ``Page`` for the context, ``CheckedForm``
for every POST."""

from fastapi import APIRouter

from collector.console.pages import fleet, people, records, session

router = APIRouter(include_in_schema=False)
for group in (session, fleet, records, people):
    router.include_router(group.router)
