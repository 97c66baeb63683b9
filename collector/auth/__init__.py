"""People and trust: console users, roles and permissions, server-side sessions, API tokens for
machine clients, the audit log, and centre scoping.

- ``service``: the public functions (users, login, sessions, API tokens, ``has_permission``);
  their code lives in ``users``, ``login``, ``sessions``, ``tokens``, ``passwords``, ``errors``.
- ``permissions``: roles, permission strings and the role → permission table.
- ``models``: the tables (``users``, ``user_sessions``, ``api_tokens``, ``audit_log``).
- ``audit``: ``audit()``, one line of the audit log in the caller's transaction.
- ``scope``: the centres a user or token may see, and ``scoped()`` for queries.
- ``policy``: ``AuthPolicy``, lockout, session timing and password rules.
"""
