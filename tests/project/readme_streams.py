"""The streams how-to's example task ``Answer`` ("answer"), run from the docs' own text.

The snippet ``streams-task`` of docs/how-to/streams.md is executed as this module's code.
"""

from tests.readme_snippets import exec_snippet

exec_snippet("streams-task", globals())
