"""Projects, sessions and rosters, expert admission and sign-in, evaluation rooms.

Pushes each centre's gate roster (desired config ``expert_gate``) and the room terminals'
recording schedules, stores every gate admission (``access.admission``) and signs experts in
on their first admission, links uploaded recording segments to their sessions, raises absence,
no-recording and refused-attempt alerts, and syncs admissions and sign-ins to the provincial
expert database. Operator guide: ``docs/modules/experts.md``.

The module's declaration is in ``module.py``.
"""
