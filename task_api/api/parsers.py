"""A JSON parser with a size limit, no crash on deep nesting, and Unicode only.

A lone UTF-16 surrogate (``"\\ud800"``) cannot be stored in PostgreSQL nor encoded as
UTF-8, nor can PostgreSQL store NUL (``"\\u0000"``): such a body gets a 400 naming the field.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import IO, Any

from rest_framework.exceptions import ParseError, ValidationError
from rest_framework.parsers import JSONParser

from task_api.api.errors import too_large
from task_api.conf import task_api_settings
from task_api.store.inserting import unstorable


class LimitedJSONParser(JSONParser):
    """Parses JSON bodies up to ``TASK_API_MAX_REQUEST_BYTES``; rejects NaN and infinity."""

    def parse(
        self,
        stream: IO[Any],
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> Any:
        limit = task_api_settings.max_request_bytes
        request = (parser_context or {}).get("request")
        length = request.META.get("CONTENT_LENGTH") if request is not None else None
        if length and str(length).isdigit() and int(length) > limit:
            raise too_large(limit)
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise too_large(limit)
        try:
            data = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
        except RecursionError:
            raise ParseError("JSON parse error - the document is nested too deeply.") from None
        if _ESCAPED_UNSTORABLE.search(raw):  # rare: only then walk the document
            reject_unstorable(data)
        return data


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


_ESCAPED_UNSTORABLE = re.compile(rb"\\u(?:[dD][89a-fA-F]|0000)")


def reject_unstorable(data: Any) -> None:
    """Raise a 400 naming every field whose name or value holds a lone surrogate or NUL."""
    if errors := unstorable(data):
        raise ValidationError(errors)
