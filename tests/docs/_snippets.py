"""Code snippets of README.md and the docs pages, as a reader copies them.

* Markdown: fenced blocks (```python, ```bash / ```sh / ```shell). A block whose previous non-blank
  line is ``<!-- fragment -->`` (any text may follow ``fragment``) is a fragment.
* reStructuredText: ``.. code-block:: python`` (and ``bash``/``sh``/``shell``) with its indented
  body. A block preceded by a comment ``.. fragment`` (``.. fragment: why``) is a fragment.

A fragment is incomplete by design (it leans on names it does not define) and is only compiled.
A Python snippet whose first line is a comment naming a file (``# dags/credit_gate.py ...``) is a
file of the page's example project: the page's project files are written out together.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"

PYTHON = {"python", "py", "python3"}
SHELL = {"bash", "sh", "shell", "console"}
_FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```", re.MULTILINE | re.DOTALL)
_MD_FRAGMENT = re.compile(r"<!--\s*fragment\b.*?-->\s*$", re.DOTALL)
_RST_BLOCK = re.compile(r"^(?P<indent>[ \t]*)\.\. code-block::[ \t]*(?P<lang>\w+)[ \t]*\n", re.MULTILINE)
_RST_FRAGMENT = re.compile(r"^\s*\.\. fragment\b")
_FILE_HEADER = re.compile(r"^# (?P<path>[\w./-]+\.py)\b")


@dataclass(frozen=True)
class Snippet:
    """One code block.

    :param source: The file it comes from, relative to the repository.
    :param line: Its first line of code, 1-based.
    :param language: ``"python"`` or ``"shell"``.
    :param code: Its text, dedented.
    :param fragment: Marked as a fragment: only compiled.
    """

    source: str
    line: int
    language: str
    code: str
    fragment: bool

    @property
    def id(self) -> str:
        """A test id, ``README.md:72``."""
        return f"{self.source}:{self.line}"

    @property
    def project_path(self) -> str | None:
        """The file this snippet is in the page's example project, if its first line names one."""
        match = _FILE_HEADER.match(self.code)
        return match["path"] if match and self.language == "python" else None

    @property
    def defines_dag(self) -> bool:
        """Whether the snippet builds a DAG (then it is run with ``dag.test()``)."""
        return bool(re.search(r"\bDAG\(|@dag\b", self.code))


def _language(tag: str) -> str | None:
    tag = tag.lower()
    if tag in PYTHON:
        return "python"
    if tag in SHELL:
        return "shell"
    return None


def markdown_snippets(path: Path) -> list[Snippet]:
    """The Python and shell blocks of a Markdown file.

    :param path: The file.
    """
    text = path.read_text(encoding="utf-8")
    found = []
    for match in _FENCE.finditer(text):
        language = _language(match[1])
        if language is None:
            continue
        before = text[: match.start()].rstrip().rsplit("\n", 1)[-1]
        line = text.count("\n", 0, match.start(2)) + 1
        found.append(
            Snippet(
                source=str(path.relative_to(ROOT)),
                line=line,
                language=language,
                code=match[2],
                fragment=bool(_MD_FRAGMENT.search(before)),
            )
        )
    return found


def rst_snippets(path: Path) -> list[Snippet]:
    """The Python and shell ``code-block`` directives of a reStructuredText file.

    :param path: The file.
    """
    lines = path.read_text(encoding="utf-8").split("\n")
    text = "\n".join(lines)
    found = []
    for match in _RST_BLOCK.finditer(text):
        language = _language(match["lang"])
        if language is None:
            continue
        start = text.count("\n", 0, match.end())  # index of the line after the directive
        indent = len(match["indent"])
        # Skip the directive's options (":dedent: 4") and the blank line after them.
        i = start
        while i < len(lines) and lines[i].strip().startswith(":") and lines[i].strip():
            i += 1
        body_start = i
        body: list[str] = []
        while i < len(lines):
            raw = lines[i]
            if raw.strip() and len(raw) - len(raw.lstrip()) <= indent:
                break
            body.append(raw)
            i += 1
        code = textwrap.dedent("\n".join(body)).strip("\n") + "\n"
        first_code = body_start + next((n for n, b in enumerate(body) if b.strip()), 0) + 1
        previous = [ln for ln in lines[: text.count("\n", 0, match.start())] if ln.strip()]
        fragment = bool(previous) and bool(_RST_FRAGMENT.match(previous[-1]))
        found.append(
            Snippet(
                source=str(path.relative_to(ROOT)),
                line=first_code,
                language=language,
                code=code,
                fragment=fragment,
            )
        )
    return found


def all_snippets() -> list[Snippet]:
    """Every snippet of README.md and of every page under docs/."""
    found = markdown_snippets(ROOT / "README.md")
    for page in sorted(DOCS.rglob("*.rst")):
        if "_build" in page.parts:
            continue
        found += rst_snippets(page)
    return found
