"""Print the OpenAPI document that ``GET /tasks/schema/`` serves, as JSON.

Run by the docs build (``docs/hooks/reference.py``) in a process of its own: a
minimal project with the app's URLs and the tutorial's ``wait`` task registered.
"""

from __future__ import annotations

import json
import re
import sys
import types
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT))


def tutorial_task_module() -> types.ModuleType:
    """The tutorial's ``task`` snippet as the module ``myapp.background``."""
    text = (REPO_ROOT / "docs" / "tutorial.md").read_text()
    found = re.search(r"<!-- snippet: task -->\n```python\n(.*?)\n```", text, re.S)
    if found is None:
        raise SystemExit("docs/tutorial.md has no snippet 'task'")
    package = types.ModuleType("myapp")
    package.__path__ = []
    module = types.ModuleType("myapp.background")
    sys.modules.update({"myapp": package, "myapp.background": module})
    exec(compile(found.group(1), "docs/tutorial.md", "exec"), module.__dict__)
    return module


def main() -> None:
    import django
    from django.conf import settings

    settings.configure(
        SECRET_KEY="docs",
        ALLOWED_HOSTS=["*"],
        ROOT_URLCONF="task_api.urls",
        INSTALLED_APPS=[
            "django.contrib.auth",
            "django.contrib.contenttypes",
            "django.contrib.sessions",
            "rest_framework",
            "drf_spectacular",
            "task_api",
        ],
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
        TASK_API_BACKGROUND_TASKS=["myapp.background.Wait"],
    )
    tutorial_task_module()
    django.setup()
    from django.test import RequestFactory

    from task_api.views.schema import TaskSchemaView

    request = RequestFactory().get("/tasks/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    response = TaskSchemaView.as_view()(request)
    response.render()
    document = json.loads(response.content)
    json.dump(document, sys.stdout, indent=1, sort_keys=False)


if __name__ == "__main__":
    main()
