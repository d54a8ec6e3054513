"""Sphinx configuration of the provider's documentation (``make docs``).

The build runs with ``-W --keep-going -n``: every warning fails it, and nitpicky mode checks every
internal cross reference. References to other projects (Airflow, requests, the standard library)
cannot be resolved without intersphinx, which would need the network; they are listed in
``nitpick_ignore_regex`` below, so that only this project's own references are checked.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# autodoc imports Airflow: give it a throwaway home inside the build folder, so that building the
# docs never reads or writes ~/airflow (or the reader's own airflow.cfg).
os.environ["AIRFLOW_HOME"] = str(ROOT / "docs" / "_build" / "airflow-home")
# Airflow's INFO lines (where it read its config, its timezone) are not the build's output.
logging.getLogger("airflow").setLevel(logging.WARNING)

from airflow_aimlapi import __version__  # noqa: E402

project = "airflow-provider-aimlapi"
author = "airflow-provider-aimlapi developers"
copyright = "the airflow-provider-aimlapi developers, Apache License 2.0"
version = release = __version__

extensions = [
    "sphinx.ext.autodoc",
    "myst_parser",  # only for including CHANGELOG.md (changelog.rst); the pages are reStructuredText
]
source_suffix = {".rst": "restructuredtext"}
root_doc = "index"
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]
# The build must never reach the network (CI has none beyond the package registries).
intersphinx_mapping: dict[str, tuple[str, str | None]] = {}

html_theme = "furo"
html_title = f"AIML API provider for Apache Airflow {release}"
html_static_path: list[str] = []

nitpicky = True
nitpick_ignore_regex = [
    # Other projects' names (and the standard library's) have no inventory without the network.
    (
        r"py:.*",
        r"(airflow|requests|httpx|pytest|_pytest|datetime|decimal|collections|typing|pathlib|os|"
        r"asyncio|enum|re|logging|subprocess|threading|http|abc|types|upath|fsspec|pendulum|random)(\..*)?",
    ),
    (
        r"py:.*",
        r"(str|int|float|bool|bytes|dict|list|tuple|set|frozenset|object|None|Any|type|"
        r"Exception|BaseException|ValueError|TypeError|KeyError|RuntimeError|OSError|TimeoutError|"
        r"Callable|Iterator|Iterable|Mapping|Sequence|Awaitable|AsyncIterator|Generator|Literal|"
        r"Self|T|ObjectStoragePath|Path|Decimal|timedelta|datetime|date|Context|TaskInstance)",
    ),
    # Private modules (a leading underscore) are not documented: base classes and helpers there
    # are named in signatures and docstrings, not pages.
    (r"py:.*", r"airflow_aimlapi\.(\w+\.)*_\w+(\..*)?"),
]
nitpick_ignore = [
    # Methods the public classes inherit from Airflow's BaseOperator and BaseTrigger, named in
    # docstrings by their short name.
    ("py:meth", "defer"),
    ("py:meth", "serialize"),
    # A type variable of the records' generic base, not an object of its own.
    ("py:obj", "airflow_aimlapi.records.RecordT"),
]

# Each automodule in api.rst says which members it documents (``:members:`` alone: all public ones).
autodoc_default_options = {
    "show-inheritance": True,
    "member-order": "bysource",
}
# Signatures show names and defaults; the types are in each docstring's :param: text. (Types in
# signatures would each be a cross reference into Airflow or the standard library.)
autodoc_typehints = "none"
autodoc_inherit_docstrings = False
# One heading per public module; their members' own references are checked by nitpicky mode.
add_module_names = False

myst_enable_extensions: list[str] = []
myst_heading_anchors = 3
suppress_warnings = ["myst.header"]


def _resolve_record(app: Any, env: Any, node: Any, contnode: Any) -> Any:
    """Link a record named by its bare name (``Balance`` in ``GateTrigger[Balance]``) to its page.

    autodoc writes the type arguments of a generic base class by their short name, which no module
    scope resolves; every such name is a record of :mod:`airflow_aimlapi.records`.
    """
    target = node.get("reftarget", "")
    if node.get("refdomain") != "py" or "." in target:
        return None
    full = f"airflow_aimlapi.records.{target}"
    domain = env.get_domain("py")
    if full not in domain.objects:
        return None
    return domain.resolve_xref(env, node["refdoc"], app.builder, node["reftype"], full, node, contnode)


def setup(app: Any) -> None:
    """Connect :func:`_resolve_record`.

    :param app: The Sphinx application.
    """
    app.connect("missing-reference", _resolve_record)
