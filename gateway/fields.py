"""The constrained value types every API schema is built from (pydantic v2).

Each type validates and documents at once: the bounds given here are what the OpenAPI
document states, and what `engine/storage/migrations/0002_input_bounds.sql` makes the
database refuse too, so nothing the API accepts can break a reader later.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BeforeValidator, Field, StringConstraints

from engine.errors import InvalidInput

#: Ids are PostgreSQL bigints: 1 to 2^63 - 1.
MAX_ID = 2**63 - 1

#: Dates outside [2000-01-01, 2101-01-01) UTC are refused: a wider window only admits typos
#: and values (year 1, year 9999 at -14:00) that overflow on conversion.
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
END = datetime(2101, 1, 1, tzinfo=UTC)

#: No C0 or C1 control character (which includes NUL): as a JSON Schema pattern, checked by
#: pydantic-core and published in the document alike.
NO_CONTROL = r"^[^\u0000-\u001f\u007f-\u009f]*$"

#: Like NO_CONTROL, but a line feed and a tab are allowed: the text of a description, written
#: in lines (carriage returns are made line feeds before this is checked, `_lines`).
NO_CONTROL_BUT_LINES = r"^[^\u0000-\u0008\u000b-\u001f\u007f-\u009f]*$"

#: The longest description an event may have, in characters (Unicode code points).
MAX_DESCRIPTION = 5000

_ASCII_WHOLE = re.compile(r"[0-9]{1,19}")


@dataclass(frozen=True, slots=True)
class Refusal:
    """Marks a field whose bad values are refused with a narrower error than
    `invalid_input` (its code is what clients match on)."""

    error: type[InvalidInput]


def whole(value: Any) -> Any:
    """A validator: text from a path or query string must be ASCII digits. `int()` alone
    accepts '²', '٢', '+1', '1_0' and ' 1', and parses thousands of digits before any bound
    is checked."""
    if isinstance(value, str):
        if not _ASCII_WHOLE.fullmatch(value):
            raise ValueError("must be a whole number written with the digits 0-9")
        return int(value)
    return value


def integral(value: Any) -> Any:
    """A validator: a JSON number with no fraction (`5.0`) is the integer it equals, as JSON
    Schema's `integer` says; `true` is not 1, and `5.5` or `"5"` stay refused."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _nfc(value: Any) -> Any:
    # Before the length and pattern checks, so they measure the text that is stored.
    return unicodedata.normalize("NFC", value) if isinstance(value, str) else value


def _lines(value: Any) -> Any:
    # One spelling of a line break, whichever system wrote the text: CRLF and a lone CR
    # become LF, so the stored text has only the line feeds the page shows.
    if isinstance(value, str):
        return _nfc(value.replace("\r\n", "\n").replace("\r", "\n"))
    return value


def _in_window(value: datetime) -> datetime:
    # The year is checked before any arithmetic: converting year 9999 at -14:00 to UTC
    # overflows.
    if not EARLIEST.year - 1 <= value.year <= END.year:
        raise ValueError(f"must be between {EARLIEST:%Y} and {END.year - 1}")
    utc = value.astimezone(UTC)
    if not EARLIEST <= utc < END:
        raise ValueError(f"must be between {EARLIEST:%Y} and {END.year - 1}")
    return utc


def _bounded(min_length: int, max_length: int) -> StringConstraints:
    return StringConstraints(strip_whitespace=True, min_length=min_length,
                             max_length=max_length, pattern=NO_CONTROL)


# Constraints come first and validators after: a validator wraps what stands to its left, so
# NFC runs before the length is measured, and the constraints still reach the JSON Schema.

#: An event's name.
EventName = Annotated[str, _bounded(1, 200), BeforeValidator(_nfc)]
#: An event's description: plain text in lines, shown as text (never as markup). Not
#: stripped: its first line may start indented on purpose.
Description = Annotated[str, StringConstraints(max_length=MAX_DESCRIPTION,
                                               pattern=NO_CONTROL_BUT_LINES),
                        BeforeValidator(_lines)]
#: A venue.
Label = Annotated[str, _bounded(0, 200), BeforeValidator(_nfc)]
#: A person's name.
PersonName = Annotated[str, _bounded(0, 100), BeforeValidator(_nfc)]
#: An email address as typed (its form is the engine's rule, `accounts.normalize_email`).
Email = Annotated[str, _bounded(1, 254), BeforeValidator(_nfc)]
#: An `Idempotency-Key` header.
Key = Annotated[str, _bounded(1, 200)]

#: An id of a bigint column, from a path.
Id = Annotated[int, Field(ge=1, le=MAX_ID), BeforeValidator(whole)]

#: A timezone-aware date-time within the window, answered back in UTC.
When = Annotated[AwareDatetime, AfterValidator(_in_window),
                 Field(description=f"with a timezone; {EARLIEST:%Y} to {END.year - 1}")]
