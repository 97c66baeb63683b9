"""Projects, sessions and rosters, expert admission and sign-in, evaluation rooms.

Pushes each centre's gate roster (desired config ``expert_gate``) and the room terminals'
recording schedules, stores every gate admission (``access.admission``) and signs experts in
on their first admission, links uploaded recording segments to their sessions, raises absence,
no-recording and refused-attempt alerts, and syncs admissions and sign-ins to the provincial
expert database. Operator guide: ``docs/modules/experts.md``.

Public for other modules: ``service.project_recording_ids`` and ``service.recording_project``,
the link from a recording in the file store to its project, and
``service.project_room_windows``, when each session of a project took place in which room
(the burn archive uses them to fetch recordings and NVR video). The module's declaration is in
``module.py``.
"""
