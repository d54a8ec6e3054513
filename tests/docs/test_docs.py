"""The docs say what the code does: parameter names and defaults, connection defaults, metric names,
and every internal link.

* Each operator, sensor, trigger (and the hook) has a page with a parameter table, marked by the
  comment ``.. parameters of <dotted class path>`` before its ``csv-table``, whose rows are
  ``name | default | meaning``. The names must be the class's own ``__init__`` parameters (every
  one of them), plus any of its provider base classes' that the page chooses to list; each default
  must equal the code's (a Python literal, ``required`` for none, or the Airflow setting
  ``[operators] default_deferrable``).
* The connection page's defaults table (``.. connection defaults``) must match the settings the hook
  reads from a connection that sets nothing.
* The metrics page's table (``.. metrics``) must name exactly the gauges the code sends, with their
  tags: every ``record_*`` function of the module that defines the ``*_GAUGE`` names is called
  with ``Stats.gauge`` recorded.
* Defaults stated in sentences (timeouts, the first backoff steps, the cap, the retry budget, the
  longest backoff) in the pages, README.md, CONTRIBUTING.md and the package's docstrings must be
  the code's constants (:func:`test_the_defaults_stated_in_prose_are_the_codes`).
* Every ``:doc:``, ``:ref:``, ``literalinclude`` (with its markers), ``include`` and ``image`` target
  of a page exists; so does every relative link of README.md. (``make docs`` checks the same with
  Sphinx's nitpicky mode, plus the API reference's cross references.)
"""

from __future__ import annotations

import ast
import csv
import importlib
import inspect
import pkgutil
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _public_classes import discover

import airflow_aimlapi

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
PAGES = sorted(p for p in DOCS.rglob("*.rst") if "_build" not in p.parts)
DEFERRABLE_DEFAULT = "[operators] default_deferrable"


def public_classes() -> list[str]:
    """The hooks, operators, sensors and triggers of the public modules: each needs a page."""
    return sorted(f"{cls.__module__}.{cls.__qualname__}" for cls in discover().values())


PUBLIC_CLASSES = public_classes()


def _csv_after(text: str, marker: str) -> list[list[str]]:
    """The rows of the ``csv-table`` that follows the comment ``marker`` (header excluded)."""
    start = text.index(marker)
    directive = text.index(".. csv-table::", start)
    lines = text[directive:].split("\n")[1:]
    body: list[str] = []
    for line in lines:
        if line.strip() and not line.startswith(" "):
            break
        stripped = line.strip()
        if not stripped or stripped.startswith(":"):
            continue
        body.append(stripped)
    rows = list(csv.reader(body, skipinitialspace=True))
    assert rows, f"{marker}: empty table"
    return rows


def _literal(cell: str) -> str:
    """The text inside a cell's double backticks, or the cell itself."""
    match = re.fullmatch(r"``(.*)``", cell.strip())
    return match[1] if match else cell.strip()


def parameter_tables() -> dict[str, tuple[Path, list[list[str]]]]:
    """Every parameter table of the docs, keyed by the class it documents."""
    tables: dict[str, tuple[Path, list[list[str]]]] = {}
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for match in re.finditer(r"^\.\. parameters of (\S+)\s*$", text, re.MULTILINE):
            assert match[1] not in tables, f"{match[1]} has two parameter tables"
            tables[match[1]] = (page, _csv_after(text[match.start() :], match[0]))
    return tables


TABLES = parameter_tables()


def _class(path: str) -> type[Any]:
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)  # type: ignore[no-any-return]


def _parameters(cls: type[Any]) -> dict[str, inspect.Parameter]:
    return {
        name: p
        for name, p in inspect.signature(cls.__init__).parameters.items()
        if name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    }


def _provider_bases(cls: type[Any]) -> Iterator[type[Any]]:
    for base in cls.__mro__:
        if base.__module__.startswith("airflow_aimlapi") and "__init__" in vars(base):
            yield base


def test_every_public_class_has_a_parameter_table() -> None:
    assert sorted(TABLES) == PUBLIC_CLASSES


def test_every_public_class_is_in_the_api_reference() -> None:
    text = (DOCS / "api.rst").read_text(encoding="utf-8")
    blocks = dict(re.findall(r"^\.\. automodule:: (\S+)\n((?:    :.*\n)*)", text, re.MULTILINE))
    for path in PUBLIC_CLASSES:
        module, _, name = path.rpartition(".")
        assert module in blocks, f"api.rst has no automodule for {module}"
        members = re.search(r":members:(.*)", blocks[module])
        assert members, f"api.rst documents no members of {module}"
        listed = [m.strip() for m in members[1].split(",") if m.strip()]
        assert not listed or name in listed, f"api.rst leaves {name} out of {module}"


@pytest.mark.parametrize("path", PUBLIC_CLASSES)
def test_a_parameter_table_matches_the_signature(path: str) -> None:
    from airflow.configuration import conf

    page, rows = TABLES[path]
    cls = _class(path)
    documented = {_literal(row[0]): _literal(row[1]) for row in rows}
    assert len(documented) == len(rows), f"{page}: a parameter listed twice"
    own = _parameters(cls)
    missing = sorted(set(own) - set(documented))
    assert not missing, f"{page}: {cls.__name__} takes {missing}, which the table does not list"
    for name, default in documented.items():
        where = next((b for b in _provider_bases(cls) if name in _parameters(b)), None)
        assert where is not None, f"{page}: {cls.__name__} has no parameter {name!r} (documented)"
        actual = _parameters(where)[name].default
        if default == "required":
            assert actual is inspect.Parameter.empty, f"{page}: {name} has a default, {actual!r}"
        elif default == DEFERRABLE_DEFAULT:
            expected = conf.getboolean("operators", "default_deferrable", fallback=False)
            assert actual == expected, f"{page}: {name} defaults to {actual!r}, not {default}"
        else:
            assert actual is not inspect.Parameter.empty, f"{page}: {name} is required, documented {default}"
            assert actual == ast.literal_eval(default), (
                f"{page}: {name} defaults to {actual!r}, not {default}"
            )


def test_the_connection_defaults_are_what_the_hook_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow_aimlapi.hooks.aimlapi import AimlApiHook

    rows = _csv_after(
        (DOCS / "connections" / "aimlapi.rst").read_text(encoding="utf-8"), ".. connection defaults"
    )
    monkeypatch.setenv("AIRFLOW_CONN_DOCS_DEFAULTS", '{"conn_type": "aimlapi", "password": "docs-test-key"}')
    settings = AimlApiHook("docs_defaults").settings
    for setting, default, _meaning in rows:
        assert getattr(settings, setting) == ast.literal_eval(_literal(default)), setting


def _metrics_module() -> Any:
    found = []
    for info in pkgutil.walk_packages(airflow_aimlapi.__path__, "airflow_aimlapi."):
        if ".testing" in info.name:
            continue
        module = importlib.import_module(info.name)
        if any(n.endswith("_GAUGE") and isinstance(v, str) for n, v in vars(module).items()):
            found.append(module)
    # The module that sends them: it defines record_* functions (others may import a name).
    defining = [m for m in found if any(n.startswith("record_") for n in vars(m))]
    assert len(defining) == 1, (
        f"expected one module sending the gauges, found {[m.__name__ for m in defining]}"
    )
    return defining[0]


SAMPLE_ARGUMENTS = {
    "conn_id": "aimlapi_default",
    "balance": 37.25,
    "dag_id": "etl",
    "usd": 1.25,
    "spend_rate": 0.5,
    "hours_left": 12.0,
    "lookback": "6h",
}


def test_the_metrics_page_names_what_the_code_sends(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.providers.common.compat import sdk

    sent: dict[str, set[str]] = {}

    class Recorder:
        @staticmethod
        def gauge(name: str, value: float, tags: dict[str, str] | None = None, **_: Any) -> None:
            sent.setdefault(name, set()).update(tags or {})

    monkeypatch.setattr(sdk, "Stats", Recorder)
    module = _metrics_module()
    functions = [f for n, f in vars(module).items() if n.startswith("record_") and inspect.isfunction(f)]
    assert functions
    for function in functions:
        function(**{name: SAMPLE_ARGUMENTS[name] for name in inspect.signature(function).parameters})

    rows = _csv_after((DOCS / "guides" / "metrics.rst").read_text(encoding="utf-8"), ".. metrics")
    documented: dict[str, set[str]] = {}
    for name, tags, _meaning in rows:
        concrete = re.sub(r"<(\w+)>", lambda m: str(SAMPLE_ARGUMENTS[m[1]]), _literal(name))
        documented[concrete] = set(re.findall(r"``(\w+)``", tags))
    assert documented == sent


# -- links ------------------------------------------------------------------------------------------

_DOC_ROLE = re.compile(r":doc:`(?:[^`<]*<)?([^`>]+)>?`")
_REF_ROLE = re.compile(r":ref:`(?:[^`<]*<)?([^`>]+)>?`")
_PATH_DIRECTIVE = re.compile(r"^\s*\.\. (literalinclude|include|image|figure)::\s*(\S+)", re.MULTILINE)
_LABEL = re.compile(r"^\.\. _(.+):\s*$", re.MULTILINE)
_OPTION = re.compile(r"^\s+:(start-after|end-before):\s*(.+?)\s*$")


def _target(page: Path, target: str) -> Path:
    return DOCS / target.lstrip("/") if target.startswith("/") else page.parent / target


def test_every_doc_reference_and_file_directive_resolves() -> None:
    labels = {m[1] for page in PAGES for m in _LABEL.finditer(page.read_text(encoding="utf-8"))}
    problems = []
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for match in _DOC_ROLE.finditer(text):
            if not _target(page, match[1]).with_suffix(".rst").exists():
                problems.append(f"{page.relative_to(ROOT)}: :doc: {match[1]}")
        for match in _REF_ROLE.finditer(text):
            if match[1] not in labels:
                problems.append(f"{page.relative_to(ROOT)}: :ref: {match[1]}")
        lines = text.split("\n")
        for match in _PATH_DIRECTIVE.finditer(text):
            path = _target(page, match[2])
            if not path.exists():
                problems.append(f"{page.relative_to(ROOT)}: {match[1]} {match[2]}")
                continue
            if match[1] != "literalinclude":
                continue
            # The markers of an included example must be in the file.
            row = text.count("\n", 0, match.start()) + 1
            for line in lines[row : row + 8]:
                option = _OPTION.match(line)
                if option and option[2] not in path.read_text(encoding="utf-8"):
                    problems.append(f"{page.relative_to(ROOT)}: {match[2]} has no {option[2]!r}")
    assert not problems


def test_every_relative_link_of_the_readme_resolves() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text)
    missing = [link for link in links if "://" not in link and not (ROOT / link).exists()]
    assert not missing


def test_the_tables_are_found() -> None:
    # The parsing itself: a changed marker must not make the table tests check nothing.
    assert len(PUBLIC_CLASSES) >= 12
    assert "airflow_aimlapi.hooks.aimlapi.AimlApiHook" in PUBLIC_CLASSES
    assert all(len(rows[0]) == 3 for _page, rows in TABLES.values())


def _stated_numbers() -> dict[str, tuple[float, ...]]:
    """The numbers the prose states, by claim, computed from the code's constants."""
    from airflow_aimlapi._retry import (
        BACKOFF_INTERVALS,
        DEFAULT_RETRY_BACKOFF,
        DEFAULT_RETRY_BUDGET,
        MIN_LONGEST_BACKOFF,
        RETRY_BACKOFF_CAP,
        call_backoff,
    )

    backoff = call_backoff()
    first_three: tuple[float, ...] = ()
    for attempt in range(3):  # each wait's range: half its step fixed, half random
        first_three += (backoff.delay(attempt, rng=lambda: 0.0), backoff.delay(attempt, rng=lambda: 1.0))
    timeouts = (airflow_aimlapi.DEFAULT_CONNECT_TIMEOUT, airflow_aimlapi.DEFAULT_READ_TIMEOUT)
    return {
        r"\((\d[\d.]*)(?: s)? to connect, (\d[\d.]*) s to read": timeouts,
        r"\((\d[\d.]*)(?: s)? \+ (\d[\d.]*) s by default\)": timeouts,
        r"(\d[\d.]*)-(\d[\d.]*)(?: s)?, (\d[\d.]*)-(\d[\d.]*)(?: s)?,? (?:and )?(\d[\d.]*)-(\d[\d.]*) s": (
            first_three
        ),
        r"`+retry_backoff`+ (?:of|\(default) (\d[\d.]*) s": (DEFAULT_RETRY_BACKOFF,),
        r"(?:capped at|stop growing at) (\d[\d.]*) s": (RETRY_BACKOFF_CAP,),
        r"retry_budget\b.{0,40}?\(default (\d[\d.]*)": (DEFAULT_RETRY_BUDGET,),
        r"max_retries`*(?: times)? \(default (\d+)\)": (float(airflow_aimlapi.DEFAULT_MAX_RETRIES),),
        r"(two|three|four|five|six) po(?:ll|ke) intervals,? (?:but )?at least (\d[\d.]*) s": (
            float(BACKOFF_INTERVALS),
            MIN_LONGEST_BACKOFF,
        ),
    }


_WORDS = {"two": 2.0, "three": 3.0, "four": 4.0, "five": 5.0, "six": 6.0}


def test_the_defaults_stated_in_prose_are_the_codes() -> None:
    # Timeouts, backoff steps, the cap and the budget written as numbers in sentences (the docs
    # pages, README, CONTRIBUTING and the package's docstrings): each claim is found at least once,
    # and every place it is found states the code's numbers.
    files = [
        *PAGES,
        ROOT / "README.md",
        ROOT / "CONTRIBUTING.md",
        *sorted((ROOT / "airflow_aimlapi").rglob("*.py")),
    ]
    texts = {f: re.sub(r"\s+", " ", f.read_text(encoding="utf-8")) for f in files}
    for pattern, expected in _stated_numbers().items():
        found = [(f, m) for f, text in texts.items() for m in re.finditer(pattern, text)]
        assert found, f"no page states {pattern!r} any more: update this test with the new wording"
        for f, match in found:
            stated = tuple(_WORDS.get(g) or float(g) for g in match.groups())
            assert stated == expected, (
                f"{f.relative_to(ROOT)}: {match[0]!r} states {stated}, the code's defaults are {expected}"
            )
