"""Problems found in data files, reported as `file:line: message` so an encoder can jump to them."""

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

_PREFIX_RE = re.compile(r"@prefix\s+([\w-]*):\s*<([^>]*)>", re.IGNORECASE)


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with the data; `error` blocks a load, `warning` does not."""

    file: str
    line: int
    message: str
    severity: str = "error"
    column: int = 0

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        if self.column:
            where += f":{self.column}"
        return f"{where}: {self.severity}: {self.message}"

    @property
    def is_error(self) -> bool:
        return self.severity == "error"


def unparsable(file: str, err: SyntaxError | OSError) -> Problem:
    """A file that does not parse (with line and column) or cannot be read."""
    if isinstance(err, SyntaxError):
        message = "Turtle syntax error: " + str(err.msg).split(": ", 1)[-1]
        return Problem(file, err.lineno or 0, message, column=err.offset or 0)
    return Problem(file, 0, f"cannot read: {err.strerror or err}")


_REMOTE_CONTEXT = "No LoadDocumentCallback has been set to load remote contexts"


def parser_reason(message: str) -> str:
    """The parser's message, except where it names its own API instead of the document's fault: a JSON-LD
    document whose `@context` is a URL (schema.org's, Wikidata's), which nothing here fetches."""
    if _REMOTE_CONTEXT in message:
        return "its @context is a URL, and nothing is fetched from the network here: put the context itself in the file"
    return message


class LoadFailed(Exception):
    """The load could not finish for a reason that is not in the files (a SHACL batch worker died). Nothing was
    installed, so the previous graph keeps serving; unlike DataError, the same files may load at another try."""


class DataError(Exception):
    """Raised when data files cannot become a graph; carries every problem found, not just the first."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


def relative(path: Path, root: Path) -> str:
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)


@lru_cache(maxsize=256)
def _spellings(path: Path, mtime: float) -> tuple[list[str], dict[str, str]]:
    text = path.read_text(encoding="utf-8")
    return text.splitlines(), dict(_PREFIX_RE.findall(text))


def line_of(path: Path, iri: str, anywhere: bool = False) -> int:
    """Line where `iri` is first written as a subject in a Turtle file, or anywhere if asked (0: nowhere)."""
    if not path.is_file():
        return 0
    lines, prefixes = _spellings(path, path.stat().st_mtime)
    tokens = [f"<{iri}>"] + [
        f"{p}:{iri[len(ns) :]}" for p, ns in prefixes.items() if iri.startswith(ns) and len(iri) > len(ns)
    ]
    for number, line in enumerate(lines, start=1):
        if anywhere:
            if any(t in line for t in tokens):
                return number
        elif any(_starts_with_token(line.lstrip(), t) for t in tokens):
            return number
    return 0


def _starts_with_token(line: str, token: str) -> bool:
    return line.startswith(token) and line[len(token) : len(token) + 1] in (" ", "\t", "")
