"""Tag AIML API calls with the Airflow task that made them, and read the tag back.

Any AIML API inference request may carry ``X-Client-Request-Id`` (1-128 characters from
``A-Z a-z 0-9 . _ : -``; anything else is silently dropped by the API). ``/v2/logs`` reports it per
request as ``client_request_id``, next to the request's cost. :func:`client_request_id` builds one
for the running task try; :func:`parse_client_request_id` reads it back, so the cost attribution
operator can add the logs up per DAG, run and task.

The id (format version 1)::

    af1:<dag_id>:<run_id>:<task_id>:<map_index>:<try_number>[:<tag>]:<check>

for example ``af1:etl:.scheduled__20260701T000000Z:summarise:3:1:prompt-v2:k3xq``. Fields are
separated by ``:``, which no encoded field contains. ``<check>`` is 4 lowercase base32 characters of
the SHA-256 of everything before it, so an id of someone else's that merely looks like ours parses as
``None``. Each text field (DAG, run, task, tag) has its own length budget (DAG and task 32, run 48,
tag 16): it is written as it is when it consists of ``A-Z a-z 0-9 . _ -``, does not start with ``.``
or ``-`` and fits its budget; otherwise as ``-`` and a 16-character digest of it (base32 of SHA-256:
80 bits, so two different values never meet in practice, see :func:`part_digest`). When the whole id
would still exceed 128 characters, fields are digested in the order run, tag, task, DAG until it
fits: a DAG or task id within its budget stays readable whatever the run id and tag are (unless the
map index or try number runs to 4 or more digits), so a DAG keeps one name across its runs and tags;
the attribution operator merges any digest back into the readable group it stands for. A run id
of Airflow's own shape (``<type>__<UTC date-time>+00:00``, with the ``_<8 letters or digits>``
suffix Airflow adds to a run without a logical date) is written compactly as
``.<type>__<YYYYMMDD>T<HHMMSS>[.ffffff]Z[_<suffix>]`` (within its budget) and read back exactly. The map
index is ``-1`` for an unmapped task. The same task try always gets the same id; ids that are not
ours (no ``af1`` prefix, a malformed field, a wrong check, ``None``) parse as ``None``.

Light on purpose: it runs inside users' tasks, so it imports only the standard library (and the
Task SDK's ``get_current_context`` when no context is passed).
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: The request header the API reads the caller's id from.
CLIENT_REQUEST_ID_HEADER = "X-Client-Request-Id"
#: The API's rule for that header; a value that does not match is dropped by the API.
CLIENT_REQUEST_ID_PATTERN = re.compile(r"[A-Za-z0-9._:-]{1,128}")
#: The longest id the API keeps.
MAX_LENGTH = 128
#: First field of every id this module makes (format version 1).
PREFIX = "af1"
_SEPARATOR = ":"
#: Characters of a digest (lowercase base32) and how many of them.
_DIGEST_LENGTH = 16
_READABLE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*")
_DIGEST = re.compile(rf"-[a-z2-7]{{{_DIGEST_LENGTH}}}")
_NUMBER = re.compile(r"0|[1-9][0-9]*")
#: Airflow's own run ids (``manual__2026-07-02T00:00:00+00:00``) and their compact form.
#: A run without a logical date gets ``_`` and 8 random letters or digits after the date-time.
_RUN_ID = re.compile(
    r"([A-Za-z0-9_]+?)__(\d{4}-\d\d-\d\d)T(\d\d):(\d\d):(\d\d)(\.\d{1,6})?\+00:00(_[A-Za-z0-9]{8})?",
    re.ASCII,
)
_COMPACT_RUN_ID = re.compile(
    r"\.([A-Za-z0-9_]+?)__(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)(\.\d{1,6})?Z(_[A-Za-z0-9]{8})?",
    re.ASCII,
)
#: Map indexes and try numbers beyond what Airflow's database holds (64-bit) are refused.
_MAX_NUMBER = 2**63 - 1
_TEXT_FIELDS = ("dag_id", "run_id", "task_id", "tag")
#: The longest readable form of each text field; a longer one is digested whatever the others are.
#: With these, the DAG and task parts of an id with a tag, a map index below 1000 and a try below
#: 10 never depend on the other parts (the run id, digested first, gives way).
PART_BUDGETS = {"dag_id": 32, "run_id": 48, "task_id": 32, "tag": 16}
#: Which fields are digested first when huge numbers still push an id over :data:`MAX_LENGTH`.
_SHORTEN_ORDER = ("run_id", "tag", "task_id", "dag_id")
#: Characters of the check field.
_CHECK_LENGTH = 4
_CHECK = re.compile(rf"[a-z2-7]{{{_CHECK_LENGTH}}}")


class NoTaskContextError(RuntimeError):
    """Raised when an id is asked for outside a running Airflow task and no context was passed."""


@dataclass(frozen=True)
class ClientRequestRef:
    """The parts of a client request id made by :func:`client_request_id`.

    A part that did not fit the id readably holds its digest (``-`` and 16 characters) instead of
    its value; :attr:`digests` names those parts. Group by these values as they are: the same value
    always gives the same digest.

    :param dag_id: The DAG id, or its digest.
    :param run_id: The run id (compact Airflow run ids are read back to the original), or its digest.
    :param task_id: The task id (with its task group prefix), or its digest.
    :param map_index: The map index; ``-1`` for an unmapped task.
    :param try_number: The try number.
    :param tag: The caller's tag, its digest, or ``None`` when none was given.
    :param digests: The names of the parts (of ``dag_id``, ``run_id``, ``task_id``, ``tag``) that
        hold a digest rather than the value.
    """

    dag_id: str
    run_id: str
    task_id: str
    map_index: int
    try_number: int
    tag: str | None = None
    digests: frozenset[str] = frozenset()

    def is_digest(self, part: str) -> bool:
        """Return whether ``part`` holds a digest rather than the value.

        :param part: One of ``dag_id``, ``run_id``, ``task_id``, ``tag``.
        """
        return part in self.digests


def part_digest(value: str) -> str:
    """Return the digest that stands for ``value`` in an id where it does not fit readably.

    For matching a :class:`ClientRequestRef` part that :attr:`~ClientRequestRef.digests` names
    (``-`` and 16 lowercase base32 characters of its SHA-256).

    :param value: A DAG id, run id, task id or tag.
    """
    raw = hashlib.sha256(value.encode("utf-8", "surrogatepass")).digest()
    return "-" + base64.b32encode(raw).decode("ascii").lower()[:_DIGEST_LENGTH]


_digest = part_digest


def _decode_run_id(text: str) -> str | None:
    match = _COMPACT_RUN_ID.fullmatch(text)
    if match is None:
        return None
    kind, year, month, day, hh, mm, ss, fraction, suffix = match.groups()
    return f"{kind}__{year}-{month}-{day}T{hh}:{mm}:{ss}{fraction or ''}+00:00{suffix or ''}"


def _readable(name: str, value: str) -> str | None:
    """Return the field's readable form, or ``None`` when only a digest can stand for it.

    Depends on the field alone (its characters and its own budget), never on the other fields.
    """
    budget = PART_BUDGETS[name]
    if _READABLE.fullmatch(value) and value.isascii():
        return value if len(value) <= budget else None
    if name == "run_id":
        match = _RUN_ID.fullmatch(value)
        if match is not None:
            kind, day, hh, mm, ss, fraction, suffix = match.groups()
            compact = f".{kind}__{day.replace('-', '')}T{hh}{mm}{ss}{fraction or ''}Z{suffix or ''}"
            if len(compact) <= budget and _decode_run_id(compact) == value:  # reads back exactly
                return compact
    return None


def _check_field(body: str) -> str:
    raw = hashlib.sha256(body.encode("ascii")).digest()
    return base64.b32encode(raw).decode("ascii").lower()[:_CHECK_LENGTH]


def _check_text(name: str, value: object) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name}: a non-empty string is required, got {type(value).__name__}")
    return value


def _check_number(name: str, value: object, lowest: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lowest <= value <= _MAX_NUMBER:
        raise ValueError(f"{name}: an integer from {lowest} to {_MAX_NUMBER} is required, got {value!r}")
    return value


def encode_client_request_id(
    dag_id: str, run_id: str, task_id: str, map_index: int, try_number: int, tag: str | None = None
) -> str:
    """Return the client request id of one task try (what :func:`client_request_id` sends).

    :param dag_id: The DAG id.
    :param run_id: The DAG run id.
    :param task_id: The task id.
    :param map_index: The map index (``-1`` when the task is not mapped).
    :param try_number: The try number.
    :param tag: An optional tag of the caller's (a customer, a prompt version).
    """
    values = {
        "dag_id": _check_text("dag_id", dag_id),
        "run_id": _check_text("run_id", run_id),
        "task_id": _check_text("task_id", task_id),
    }
    if tag is not None:
        values["tag"] = _check_text("tag", tag)
    numbers = (
        str(_check_number("map_index", map_index, -1)),
        str(_check_number("try_number", try_number, 0)),
    )
    fields = {name: _readable(name, value) or _digest(value) for name, value in values.items()}

    def length() -> int:
        parts = [PREFIX, *fields.values(), *numbers, "c" * _CHECK_LENGTH]
        return sum(map(len, parts)) + len(parts) - 1

    # Only huge map indexes or try numbers get here; four digests always fit.
    for name in _SHORTEN_ORDER:
        if length() <= MAX_LENGTH:
            break
        if name in fields:
            fields[name] = _digest(values[name])
    ordered = [fields["dag_id"], fields["run_id"], fields["task_id"], *numbers]
    if "tag" in fields:
        ordered.append(fields["tag"])
    body = _SEPARATOR.join([PREFIX, *ordered])
    return body + _SEPARATOR + _check_field(body)


def _context() -> Mapping[str, Any]:
    try:
        from airflow.sdk import get_current_context

        return get_current_context()
    except Exception as error:  # no Airflow, or no task running
        raise NoTaskContextError(
            "client_request_id() needs a running Airflow task: call it inside a task, or pass the "
            "task's context (context=...)"
        ) from error


def client_request_id(context: Mapping[str, Any] | None = None, *, tag: str | None = None) -> str:
    """Return the ``X-Client-Request-Id`` value naming the running task try.

    The id always passes the API's rule and names the DAG, the run, the task, the map index and the
    try (see the module documentation for its format); the same try always gets the same id.

    :param context: The task's context; ``None`` reads the running task's (``get_current_context()``).
    :param tag: An optional tag of yours (a customer, a prompt version) added to the id.
    :raises NoTaskContextError: No context was passed and no Airflow task is running.
    :raises ValueError: ``tag`` is empty or not a string.
    """
    ctx = _context() if context is None else context
    ti = ctx.get("ti") or ctx.get("task_instance")
    if ti is None:
        raise NoTaskContextError("client_request_id(): the context has no task instance ('ti')")
    map_index = getattr(ti, "map_index", -1)
    return encode_client_request_id(
        ti.dag_id,
        ti.run_id,
        ti.task_id,
        -1 if map_index is None else map_index,
        ti.try_number,
        tag,
    )


def client_request_headers(
    context: Mapping[str, Any] | None = None, *, tag: str | None = None
) -> dict[str, str]:
    """Return the header naming the running task try, for ``requests``, ``httpx`` or the OpenAI SDK.

    Pass it per call (``extra_headers=`` in the OpenAI SDK, ``headers=`` in ``requests``/``httpx``)
    or as ``default_headers=`` of a client built inside the task.

    :param context: The task's context; ``None`` reads the running task's.
    :param tag: An optional tag of yours added to the id.
    :raises NoTaskContextError: No context was passed and no Airflow task is running.
    """
    return {CLIENT_REQUEST_ID_HEADER: client_request_id(context, tag=tag)}


def _parse_text(name: str, text: str) -> tuple[str, bool] | None:
    if _DIGEST.fullmatch(text):
        return text, True
    if _READABLE.fullmatch(text):
        return text, False
    if name == "run_id":
        decoded = _decode_run_id(text)
        if decoded is not None:
            return decoded, False
    return None


def parse_client_request_id(value: object) -> ClientRequestRef | None:
    """Read an id made by :func:`client_request_id` back into its parts.

    Never raises: anything that is not one of our ids (``None``, someone else's id, a malformed or
    over-long value) gives ``None``.

    :param value: A ``client_request_id`` as found in ``/v2/logs``, or any value.
    """
    if not isinstance(value, str) or not CLIENT_REQUEST_ID_PATTERN.fullmatch(value):
        return None
    body, _, check = value.rpartition(_SEPARATOR)
    if not _CHECK.fullmatch(check) or _check_field(body) != check:
        return None
    fields = body.split(_SEPARATOR)
    if fields[0] != PREFIX or len(fields) not in (6, 7):
        return None
    dag, run, task, map_text, try_text = fields[1:6]
    if not (map_text == "-1" or _NUMBER.fullmatch(map_text)) or not _NUMBER.fullmatch(try_text):
        return None
    if int(map_text) > _MAX_NUMBER or int(try_text) > _MAX_NUMBER:
        return None
    texts = {"dag_id": dag, "run_id": run, "task_id": task}
    if len(fields) == 7:
        texts["tag"] = fields[6]
    parsed: dict[str, str] = {}
    digests = set()
    for name, text in texts.items():
        part = _parse_text(name, text)
        if part is None:
            return None
        parsed[name], digested = part
        if digested:
            digests.add(name)
    return ClientRequestRef(
        dag_id=parsed["dag_id"],
        run_id=parsed["run_id"],
        task_id=parsed["task_id"],
        map_index=int(map_text),
        try_number=int(try_text),
        tag=parsed.get("tag"),
        digests=frozenset(digests),
    )


__all__ = [
    "CLIENT_REQUEST_ID_HEADER",
    "PART_BUDGETS",
    "ClientRequestRef",
    "NoTaskContextError",
    "client_request_headers",
    "client_request_id",
    "encode_client_request_id",
    "parse_client_request_id",
    "part_digest",
]
