"""Exact money arithmetic: amounts the API wrote, added up as decimals and written back as text.

Imported by the hook, the ledger export and the cost attribution. Standard library only.
"""

from __future__ import annotations

from decimal import Decimal


def to_decimal(value: float) -> Decimal:
    """Return an amount as the decimal the API wrote, to add up without binary rounding.

    ``repr()`` is the shortest text that reads back as the same float: 0.1 adds as 0.1, not as
    0.1000000000000000055511151231257827.

    :param value: An amount as a record holds it (a float read from the API's JSON).
    """
    return Decimal(repr(value))


def decimal_text(value: Decimal) -> str:
    """Return an exact amount as plain text for XCom and files: ``"41.0375"``, never ``"4.10375E+1"``.

    :param value: The amount.
    """
    text = format(value.normalize(), "f")
    return text if text != "-0" else "0"
