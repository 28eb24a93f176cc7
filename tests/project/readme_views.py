"""The tutorial's example view ``start_countdown``, run from the docs' own text.

The snippet ``django-view`` imports ``countdown`` from ``myapp.tasks``; here
that is :mod:`tests.project.readme_functions`. Its template,
``templates/myapp/countdown.html``, is the snippet ``django-page``.
"""

from tests.readme_snippets import snippet, snippet_block

_block = snippet_block("django-view")
_source = snippet("django-view").replace(
    "from myapp.tasks import", "from tests.project.readme_functions import"
)
exec(compile("\n" * (_block.line - 1) + _source, str(_block.path), "exec"), globals())
