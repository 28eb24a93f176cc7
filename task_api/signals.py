"""Signals sent as a task moves through its life, named after Django's own tasks.

- ``task_enqueued(sender=TaskRecord, record=...)``: a task was created and handed to the backend.
- ``task_started(sender=TaskRecord, record=...)``: a worker began running it.
- ``task_finished(sender=TaskRecord, record=...)``: it reached ``succeeded``,
  ``failed`` or ``cancelled`` (``record.status`` says which).

Receivers run in the process that made the change (web or worker); an
exception in a receiver is logged and does not affect the task. For a
``@task`` function, Django's own ``django.tasks.signals`` are sent too, with
the ``TaskResult`` (:mod:`task_api.backends.django_tasks`).
"""

from __future__ import annotations

from django.dispatch import Signal

task_enqueued = Signal()
task_started = Signal()
task_finished = Signal()
