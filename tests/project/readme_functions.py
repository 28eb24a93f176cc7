"""The README's example function ``countdown``, run from the README's own text.

The snippet ``django-task`` of README.md is executed as this module's code,
so the worker and daphne run exactly what the README shows.
"""

from tests.readme_snippets import exec_snippet

exec_snippet("django-task", globals())
