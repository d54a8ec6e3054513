"""Checks of the spend endpoints' filter arguments, done before any request.

Each check returns the value as it will be sent, or raises an
:class:`~airflow_aimlapi.exceptions.AimlApiConfigError` that names the parameter. A sibling of
:mod:`airflow_aimlapi._arguments` (which the balance sensor imports at parse time): these need the
window parsing (``windows``), which that sensor does not.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from airflow_aimlapi._paths import (
    ENTRY_TYPES,
    KEY_PREFIX_LENGTH,
    LEDGER_DIRECTIONS,
    LOG_STATUSES,
    MAX_LOG_MODELS,
    MAX_PAGE_SIZE,
    MIN_PAGE_SIZE,
)
from airflow_aimlapi.exceptions import AimlApiConfigError
from airflow_aimlapi.windows import quote_argument


def check_choice(value: Any, allowed: tuple[str, ...], *, owner: str, param: str) -> str | None:
    """Check an optional value against the values the API documents (exact, case-sensitive).

    :param value: The value, or ``None`` (or ``""``, as a template renders nothing) for no filter.
    :param allowed: The documented values.
    :param owner: Who holds the parameter, named in the error.
    :param param: The parameter's name, named in the error.
    """
    if value is None or value == "":
        return None
    if not isinstance(value, str) or value not in allowed:
        raise AimlApiConfigError(
            f"{owner}: {param} must be one of {', '.join(allowed)}; got {quote_argument(value)}."
        )
    return value


def check_direction(value: Any, *, owner: str) -> str | None:
    """Check the ledger's ``direction`` filter (``TOPUP`` or ``CHARGE``).

    :param value: The value, or ``None``.
    :param owner: Who holds the parameter, named in the error.
    """
    return check_choice(value, LEDGER_DIRECTIONS, owner=owner, param="direction")


def check_entry_type(value: Any, *, owner: str) -> str | None:
    """Check the ledger's ``type`` filter, passed as ``entry_type``.

    :param value: The value, or ``None``.
    :param owner: Who holds the parameter, named in the error.
    """
    return check_choice(value, ENTRY_TYPES, owner=owner, param="entry_type")


def check_strings(
    value: Any, *, owner: str, param: str, allowed: tuple[str, ...] | None = None
) -> tuple[str, ...]:
    """Check a list-of-strings argument; one string is a list of one, ``None`` an empty list.

    A string that looks like a list (``"['a', 'b']"``) is refused: it is what a templated list
    renders to unless the DAG renders templates as native objects, and read as one value it would
    match nothing and make an empty result look like a success.

    :param value: A list (or other iterable) of non-empty strings, or one string, or ``None``.
    :param owner: Who holds the parameter, named in the error.
    :param param: The parameter's name, named in the error.
    :param allowed: The only values allowed, if any.
    """
    if value is None:
        return ()
    if isinstance(value, str) and value.lstrip()[:1] in ("[", "("):
        raise AimlApiConfigError(
            f"{owner}: {param} is the text {quote_argument(value)}, which looks like a rendered "
            "list: a templated list renders to a string unless the DAG sets "
            "render_template_as_native_obj=True. Pass a list of strings, or set that option."
        )
    # One string is one value: iterating it would send one character per parameter.
    items: Iterable[Any] = (value,) if isinstance(value, str) else value
    try:
        values = tuple(items)
    except TypeError:
        raise AimlApiConfigError(
            f"{owner}: {param} must be a list of strings, got {type(value).__name__}."
        ) from None
    for item in values:
        if not isinstance(item, str) or not item:
            raise AimlApiConfigError(
                f"{owner}: {param} must hold non-empty strings, got {quote_argument(item)}."
            )
    if allowed is not None:
        for item in values:
            check_choice(item, allowed, owner=owner, param=param)
    return values


def check_statuses(value: Any, *, owner: str) -> tuple[str, ...]:
    """Check the logs' ``status`` filter: each one ``succeeded`` or ``failed`` (sent repeated).

    A comma is not a separator for the API (``"succeeded,failed"`` is a 400), so it is refused here.

    :param value: A list of statuses (a single string is one status); empty for no filter.
    :param owner: Who holds the parameter, named in the error.
    """
    return check_strings(value, owner=owner, param="statuses", allowed=LOG_STATUSES)


def check_models(value: Any, *, owner: str) -> tuple[str, ...]:
    """Check the logs' ``model`` filter: at most 50 exact names (sent repeated).

    A comma is part of a name for the API (``"a,b"`` is one model), so nothing is split.

    :param value: A list of models (a single string is one model); empty for no filter.
    :param owner: Who holds the parameter, named in the error.
    """
    models = check_strings(value, owner=owner, param="models")
    if len(models) > MAX_LOG_MODELS:
        raise AimlApiConfigError(
            f"{owner}: models has {len(models)} entries; the API takes at most {MAX_LOG_MODELS}."
        )
    return models


def check_page_size(value: Any, *, owner: str) -> int:
    """Check a page size: a whole number from 1 to 100.

    :param value: The page size.
    :param owner: Who holds the parameter, named in the error.
    """
    if isinstance(value, bool) or not isinstance(value, int) or not MIN_PAGE_SIZE <= value <= MAX_PAGE_SIZE:
        raise AimlApiConfigError(
            f"{owner}: page_size must be a whole number from {MIN_PAGE_SIZE} to {MAX_PAGE_SIZE}, "
            f"got {quote_argument(value)}."
        )
    return value


def check_key_prefix(value: Any, *, owner: str) -> str | None:
    """Check a ``key_prefix``: the first 8 characters of a key, printable ASCII.

    The value is never quoted in the error: a whole key pasted here must not reach a log.

    :param value: The prefix, or ``None`` (or ``""``) for the authenticating key's own spend.
    :param owner: Who holds the parameter, named in the error.
    """
    if value is None or value == "":
        return None
    if (
        not isinstance(value, str)
        or len(value) != KEY_PREFIX_LENGTH
        or not all(c.isascii() and c.isprintable() and not c.isspace() for c in value)
    ):
        described = f"{len(value)} characters" if isinstance(value, str) else type(value).__name__
        raise AimlApiConfigError(
            f"{owner}: key_prefix must be the first {KEY_PREFIX_LENGTH} characters of an API key "
            f"(printable ASCII, no spaces); got {described} (not shown, in case it is a key)."
        )
    return value
