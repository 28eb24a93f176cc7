"""Cost of ``task_api.progress`` calls in a ``@task`` function: ``python -m bench.progress_api``.

Each loop runs inside a real ``runner.execute`` (reporter, flusher thread,
database sink on a temporary SQLite file), timed by the function itself, with
the call and without it; the difference per iteration is the call's
amortized cost. Also timed: ``Task.set_progress`` in the same run, and the
calls as no-ops in a plain call outside any worker. Needs Django 6.
"""

from __future__ import annotations

import os
import sys
import tempfile

COUNT = 1_000_000
MODES = ("bare", "set", "inc", "method")


def main(repeats: int = 3) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.project.settings")
    os.environ["TASK_API_DB_NAME"] = os.path.join(tempfile.mkdtemp(), "bench.sqlite3")
    import django

    django.setup()
    from django.core.management import call_command

    from bench.progress_functions import spin
    from task_api.engine import runner
    from task_api.functions import task_class_for
    from task_api.models import TaskRecord

    call_command("migrate", verbosity=0)
    name = task_class_for(spin).name

    def timed(mode: str) -> float:
        record = TaskRecord.objects.create(name=name, inputs={"count": COUNT, "mode": mode})
        runner.execute(record.uuid)
        record.refresh_from_db()
        assert record.status == "succeeded", record.error
        return float(record.outputs["return_value"]) / COUNT * 1e9

    python = sys.version.split()[0]
    print(f"{COUNT:,} calls a loop; ns a call beyond an empty loop; Python {python}")
    for _ in range(repeats):
        ns = {mode: timed(mode) for mode in MODES}
        outside = spin.call(COUNT, "set") / COUNT * 1e9
        print(
            f"progress.set {ns['set'] - ns['bare']:5.1f}"
            f"   progress.inc {ns['inc'] - ns['bare']:5.1f}"
            f"   Task.set_progress {ns['method'] - ns['bare']:5.1f}"
            f"   progress.set outside a worker {outside - ns['bare']:5.1f}"
            f"   (empty loop {ns['bare']:.1f})"
        )


if __name__ == "__main__":
    main()
