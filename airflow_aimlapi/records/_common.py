"""What every record shares: the record bases, and the reader that checks each field of an answer.

:class:`Fields` is the one reader of decoded JSON objects: every parser of this package reads its
values through it, and every mismatch becomes an
:class:`~airflow_aimlapi.exceptions.AimlApiInvalidResponseError` naming the endpoint and the field.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from typing import Any, NoReturn, TypeVar

from airflow_aimlapi.exceptions import AimlApiInvalidResponseError, scrub

#: The only currency the API documents.
CURRENCY = "USD"

#: How many characters of a bad value an error quotes.
QUOTE_LIMIT = 40
#: How many characters of a body that is not JSON an error quotes.
SNIPPET_LIMIT = 120
# A JSON number literal, as a numeric string must spell it (no "1_000", "0x10", "nan").
_JSON_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")

ItemT = TypeVar("ItemT")


@dataclass(frozen=True)
class Record:
    """The base of every record: frozen, and a dict with the API's field names on demand."""

    def to_dict(self) -> dict[str, Any]:
        """Return the record as a JSON-ready dict with the API's field names (nested records too)."""
        return asdict(self)


#: Field values that are JSON-safe as they are: returned without a walk (the export's hot path).
_PLAIN = frozenset({str, int, float, bool, type(None)})

_FIELD_NAMES: dict[type[Any], tuple[str, ...]] = {}


def _field_names(record_type: type[Any]) -> tuple[str, ...]:
    # dataclasses.fields() rebuilds its tuple on every call: a third of an export's CPU went there.
    names = _FIELD_NAMES.get(record_type)
    if names is None:
        names = _FIELD_NAMES[record_type] = tuple(f.name for f in fields(record_type))
    return names


def _json_ready(value: Any) -> Any:
    """Make a record's field JSON-safe: datetimes as ISO-8601 text, tuples as lists, records as dicts."""
    if type(value) in _PLAIN:
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Record):
        return {name: _json_ready(getattr(value, name)) for name in _field_names(type(value))}
    if isinstance(value, (list, tuple)):
        return [_json_ready(item) for item in value]
    return value


@dataclass(frozen=True)
class SpendRecord(Record):
    """The base of the spend records, whose fields hold datetimes, tuples and nested records."""

    def to_dict(self) -> dict[str, Any]:
        """Return the record as a JSON-safe dict: API field names, datetimes as ISO-8601 strings."""
        data: dict[str, Any] = _json_ready(self)
        return data


class Fields:
    """Reads typed fields from one JSON object, naming the endpoint and field on any mismatch.

    :param endpoint: The API path the object came from.
    :param data: The decoded JSON value that should be an object.
    :param secret: The API key in use, redacted from any value an error quotes.
    :param prefix: The dotted path of a nested object, for field names in errors.
    """

    def __init__(self, endpoint: str, data: Any, secret: str | None = None, prefix: str = "") -> None:
        self.endpoint = endpoint
        self.secret = secret
        self.prefix = prefix
        if not isinstance(data, dict):
            where = f"field '{prefix.rstrip('.')}'" if prefix else "the body"
            self.fail(f"{where} must be a JSON object, got {self.kind(data)}")
        self.data: dict[str, Any] = data

    def fail(self, problem: str) -> NoReturn:
        """Raise the error for an invalid answer from this object's endpoint.

        :param problem: What is wrong, naming the field.
        """
        raise invalid(self.endpoint, problem)

    def quote(self, value: Any) -> str:
        """Quote a value the server sent, redacted and shortened.

        :param value: The value as decoded.
        """
        return repr(scrub(value, secret=self.secret, limit=QUOTE_LIMIT))

    def kind(self, value: Any) -> str:
        """Describe a JSON value for an error: its type, and the value itself if it is short text.

        :param value: The value as decoded.
        """
        if value is None:
            return "null"
        if isinstance(value, bool):
            return "a boolean"
        if isinstance(value, (int, float)):
            return f"the number {scrub(value, limit=QUOTE_LIMIT)}"
        if isinstance(value, str):
            return f"the string {self.quote(value)}"
        if isinstance(value, list):
            return "an array"
        if isinstance(value, dict):
            return "an object"
        return type(value).__name__

    def _get(self, name: str) -> Any:
        if name not in self.data:
            self.fail(f"field '{self.prefix}{name}' is missing")
        return self.data[name]

    def number(self, name: str) -> float:
        """Read a finite number (a numeric string is read as the number it spells).

        :param name: The field.
        """
        value = self._get(name)
        # A numeric string ("12.5") is read as the number it spells: some gateways send decimals
        # that way. bool is an int in Python, but true/false is not a number in JSON.
        is_numeric_string = isinstance(value, str) and _JSON_NUMBER.fullmatch(value.strip()) is not None
        if not is_numeric_string and (isinstance(value, bool) or not isinstance(value, (int, float))):
            self.fail(f"field '{self.prefix}{name}' must be a number, got {self.kind(value)}")
        try:
            number = float(value.strip() if isinstance(value, str) else value)
        except OverflowError:  # an integer literal too large for a float
            number = math.inf
        if not math.isfinite(number):
            self.fail(
                f"field '{self.prefix}{name}' must be a finite number, "
                f"got {scrub(value, secret=self.secret, limit=QUOTE_LIMIT)}"
            )
        return number

    def optional_number(self, name: str) -> float | None:
        """Read a number that may be ``null`` or absent.

        :param name: The field.
        """
        if self.data.get(name) is None:
            return None
        return self.number(name)

    def integer(self, name: str) -> int:
        """Read a whole number.

        :param name: The field.
        """
        value = self.number(name)
        if not value.is_integer():
            self.fail(f"field '{self.prefix}{name}' must be a whole number, got {value!r}")
        return int(value)

    def boolean(self, name: str) -> bool:
        """Read ``true`` or ``false``.

        :param name: The field.
        """
        value = self._get(name)
        if not isinstance(value, bool):
            self.fail(f"field '{self.prefix}{name}' must be true or false, got {self.kind(value)}")
        return value

    def string(self, name: str) -> str:
        """Read a string.

        :param name: The field.
        """
        value = self._get(name)
        if not isinstance(value, str):
            self.fail(f"field '{self.prefix}{name}' must be a string, got {self.kind(value)}")
        return value

    def currency(self, name: str) -> str:
        """Read a currency, which must be :data:`CURRENCY`.

        :param name: The field.
        """
        value = self.string(name)
        if value != CURRENCY:
            self.fail(f"field '{self.prefix}{name}' must be {CURRENCY!r}, got {self.quote(value)}")
        return value

    def timestamp(self, name: str) -> datetime:
        """Read an ISO-8601 date-time, timezone-aware (UTC if the API gave no offset).

        :param name: The field.
        """
        value = self.string(name)
        # fromisoformat() before Python 3.11 rejects a trailing "Z".
        text = value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            self.fail(f"field '{self.prefix}{name}' must be an ISO-8601 date-time, got {self.quote(value)}")
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)

    def nested(self, name: str) -> Fields:
        """Read a nested object.

        :param name: The field.
        """
        return Fields(self.endpoint, self._get(name), self.secret, prefix=f"{self.prefix}{name}.")

    def objects(self, name: str) -> Iterator[Fields]:
        """Read an array of objects, one reader per item (errors name ``name[index].field``).

        :param name: The field.
        """
        for index, item in enumerate(self.array(name)):
            yield Fields(self.endpoint, item, self.secret, prefix=f"{self.prefix}{name}[{index}].")

    def non_negative(self, name: str) -> float:
        """Read a number >= 0.

        :param name: The field.
        """
        value = self.number(name)
        if value < 0:
            self.fail(f"field '{self.prefix}{name}' must be >= 0, got {value!r}")
        return value

    def count(self, name: str) -> int:
        """Read a whole number >= 0 (numeric strings accepted, as for every number).

        :param name: The field.
        """
        value = self.integer(name)
        if value < 0:
            self.fail(f"field '{self.prefix}{name}' must be >= 0, got {value}")
        return value

    def optional_string(self, name: str) -> str | None:
        """Read a string that may be ``null`` or absent (fields newer than some rows).

        :param name: The field.
        """
        if self.data.get(name) is None:
            return None
        return self.string(name)

    def choice(self, name: str, allowed: tuple[str, ...]) -> str:
        """Read a string that must be one of ``allowed``.

        :param name: The field.
        :param allowed: The values accepted.
        """
        value = self.string(name)
        if value not in allowed:
            self.fail(
                f"field '{self.prefix}{name}' must be one of {', '.join(allowed)}; got {self.quote(value)}"
            )
        return value

    def array(self, name: str) -> list[Any]:
        """Read an array.

        :param name: The field.
        """
        value = self._get(name)
        if not isinstance(value, list):
            self.fail(f"field '{self.prefix}{name}' must be an array, got {self.kind(value)}")
        return value


def read_page(
    endpoint: str, data: Any, secret: str | None, read_item: Callable[[Fields], ItemT]
) -> tuple[tuple[ItemT, ...], Fields]:
    """Read a paged answer: its ``data`` items, each with ``read_item``, then its ``pagination``.

    :param endpoint: The API path the body came from.
    :param data: The decoded JSON body.
    :param secret: The API key in use, redacted from any value an error quotes.
    :param read_item: Reads one item of ``data`` into a record.
    """
    f = Fields(endpoint, data, secret)
    items = tuple(read_item(item) for item in f.objects("data"))
    return items, f.nested("pagination")


def invalid(endpoint: str, problem: str) -> AimlApiInvalidResponseError:
    """Build the error for an invalid answer.

    :param endpoint: The API path the answer came from.
    :param problem: What is wrong with it.
    """
    return AimlApiInvalidResponseError(
        f"AIML API {endpoint} returned an invalid answer: {problem}", endpoint=endpoint
    )


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not valid JSON")


def decode_json(endpoint: str, body: str | bytes, *, secret: str | None = None) -> Any:
    """Decode a JSON body strictly: ``NaN`` and ``Infinity`` literals are refused.

    :param endpoint: The API path the body came from, for the error message.
    :param body: The body, as text or as the raw bytes (UTF-8, as JSON is on the wire).
    :param secret: The API key in use, redacted from the start of the body an error quotes.
    """
    try:
        return json.loads(body, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as err:
        text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body
        snippet = scrub(text, secret=secret, limit=SNIPPET_LIMIT)
        reason = scrub(err, secret=secret, limit=SNIPPET_LIMIT)
        raise invalid(endpoint, f"the body is not JSON ({reason}); it starts with {snippet!r}") from None
