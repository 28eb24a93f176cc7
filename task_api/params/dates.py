"""Dates and aware datetimes as ISO-8601 strings."""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final

from task_api.params.base import Parameter, ParameterError, _show

_DATETIME: Final = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:[Zz]|[+-]\d{2}:?\d{2})?",
    re.ASCII,
)
_DATE: Final = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)


@dataclass(frozen=True, kw_only=True, repr=False)
class DateTimeParameter(Parameter):
    """An aware datetime, as an ISO-8601 string such as ``2026-11-22T10:00:00.120Z``.

    A value without a UTC offset, input or output, is taken to be in UTC.
    Outputs keep their offset, written as ``Z`` for UTC; an offset that is not
    whole minutes (old local mean times) cannot be written in RFC 3339, so
    such a value is written in UTC.
    """

    def _parse(self, value: object) -> datetime:
        if isinstance(value, str) and _DATETIME.fullmatch(value.strip()):
            with contextlib.suppress(ValueError):
                parsed = datetime.fromisoformat(value.strip().upper())
                return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        raise ParameterError(
            f"A valid ISO-8601 datetime is required (YYYY-MM-DDThh:mm:ssZ); got {_show(value)}."
        )

    def _dump(self, value: object) -> str:
        if not isinstance(value, datetime):
            raise ParameterError(f"A datetime is required; got {_show(value)}.")
        offset = value.utcoffset()
        if offset is None:
            value = value.replace(tzinfo=UTC)
        elif offset % timedelta(minutes=1):
            try:
                value = value.astimezone(UTC)
            except OverflowError:
                raise ParameterError(
                    f"A datetime within the range of UTC is required; got {_show(value)}."
                ) from None
        text = value.isoformat()
        return text[:-6] + "Z" if text.endswith("+00:00") else text

    def _schema(self) -> dict[str, Any]:
        return {"type": "string", "format": "date-time"}


@dataclass(frozen=True, kw_only=True, repr=False)
class DateParameter(Parameter):
    """A date, as an ISO-8601 ``YYYY-MM-DD`` string."""

    def _parse(self, value: object) -> date:
        if isinstance(value, str) and _DATE.fullmatch(value.strip()):
            with contextlib.suppress(ValueError):
                return date.fromisoformat(value.strip())
        raise ParameterError(f"A valid date is required (YYYY-MM-DD); got {_show(value)}.")

    def _dump(self, value: object) -> str:
        if isinstance(value, datetime) or not isinstance(value, date):
            raise ParameterError(f"A date is required; got {_show(value)}.")
        return value.isoformat()

    def _schema(self) -> dict[str, Any]:
        return {"type": "string", "format": "date"}
