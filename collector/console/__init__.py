"""The console: server-rendered pages (Jinja2, ``web_console/``) over the same services and
scoping as the API, live updates by server-sent events.

- ``i18n``: the language of a request (``?lang=`` / cookie) and the label table.
- ``menu``: menu entries that modules register, shown by permission.
- ``deps``: the logged-in user of a page, CSRF on forms, the page context.
- ``pages``: the core pages (login, devices, events, dead letters, audit, users, centres).
- ``live``: the SSE endpoints.
"""
