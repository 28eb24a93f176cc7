"""The tutorial's example function ``countdown``, run from the docs' own text.

The snippet ``django-task`` of docs/tutorial.md is executed as this module's code,
so the worker and daphne run exactly what the tutorial shows.
"""

from tests.readme_snippets import exec_snippet

exec_snippet("django-task", globals())
