"""Named queries: `queries/*.rq` files with a header of `#+` decorators (grlc style, YAML).

#+ summary: Stances of an actor
#+ params:
#+   - name: actor
#+     type: iri
"""

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from app.problems import Problem


@dataclass(frozen=True)
class NamedQuery:
    """One .rq file: its name (file stem), decorators, and the SPARQL text."""

    name: str
    path: Path
    sparql: str
    summary: str = ""
    description: str = ""
    tags: list[str] = field(default_factory=list)


def parse_decorators(text: str) -> tuple[dict, int]:
    """The YAML held by the leading `#+` lines, and the number of such lines."""
    lines = []
    for line in text.splitlines():
        if not line.startswith("#+"):
            break
        lines.append(line[2:].removeprefix(" "))
    if not lines:
        return {}, 0
    data = yaml.safe_load("\n".join(lines)) or {}
    if not isinstance(data, dict):
        raise ValueError("the #+ header must be a YAML mapping (key: value lines)")
    return data, len(lines)


def load_named_queries(queries_dir: Path, name=str) -> tuple[list[NamedQuery], list[Problem]]:
    """Every query file in the folder (rules/ excluded); a broken file is reported, the others still load."""
    queries, problems = [], []
    for path in sorted(queries_dir.glob("*.rq")):
        text = path.read_text(encoding="utf-8")
        try:
            decorators, _ = parse_decorators(text)
        except (yaml.YAMLError, ValueError) as err:
            mark = getattr(err, "problem_mark", None)
            problems.append(Problem(name(path), (mark.line + 1) if mark else 1, f"bad #+ header: {err}"))
            continue
        queries.append(
            NamedQuery(
                name=path.stem,
                path=path,
                sparql=text,
                summary=str(decorators.get("summary", "")),
                description=str(decorators.get("description", "")),
                tags=list(decorators.get("tags") or []),
            )
        )
    return queries, problems
