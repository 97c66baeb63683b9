"""Archive discs: burn jobs, schedules, drives and the archive (issue #6).

Public for other modules: :func:`collector.modules.burn.service.upsert_project` feeds a
project into the archive (the experts module's project register does), with
:class:`collector.modules.burn.service.ProjectIn` as its input. Operator guide:
``docs/modules/burn.md``. The module's declaration is in ``module.py``.
"""
