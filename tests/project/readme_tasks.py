"""The README's example task ``Wait`` ("wait"), run from the README's own text.

The snippet ``task`` of README.md is executed as this module's code, so the
worker and daphne run exactly what the README shows.
"""

from tests.readme_snippets import exec_snippet

exec_snippet("task", globals())
