"""The protocol's `using-graph-uri` / `using-named-graph-uri` for SPARQL Update, as USING clauses.

pyoxigraph takes no dataset for updates, so the parameters become `USING <g>` / `USING NAMED <g>` before the
WHERE of every DELETE/INSERT operation, which is what the SPARQL 1.1 Protocol says they mean. A scanner
finds those WHEREs outside braces, strings, IRIs and comments; an update that already has USING or WITH is
refused, as the protocol requires.
"""

import re

_IRI = re.compile(r"<[^<>\"{}|^`\\\s]*>")
_KEYWORD = re.compile(r"(?i)\b(DELETE\s+WHERE|WHERE|USING|WITH)\b")


class DatasetConflict(ValueError):
    """using-graph-uri / using-named-graph-uri given together with USING or WITH in the update."""


def _top_level(update: str):
    """Yield (start, end, keyword) of the keywords that stand outside braces, strings, IRIs and comments."""
    depth, i, n = 0, 0, len(update)
    while i < n:
        char = update[i]
        if char == "#":
            end = update.find("\n", i)
            i = n if end < 0 else end
        elif char in "\"'":
            quote = update[i : i + 3] if update[i : i + 3] in ('"""', "'''") else char
            i += len(quote)
            while i < n and not update.startswith(quote, i):
                i += 2 if update[i] == "\\" else 1
            i += len(quote)
        elif char == "<" and (iri := _IRI.match(update, i)):
            i = iri.end()
        elif char == "{":
            depth, i = depth + 1, i + 1
        elif char == "}":
            depth, i = depth - 1, i + 1
        elif depth == 0 and (keyword := _KEYWORD.match(update, i)) and (i == 0 or not update[i - 1].isalnum()):
            yield keyword.start(), keyword.end(), re.sub(r"\s+", " ", keyword.group(1).upper())
            i = keyword.end()
        else:
            i += 1


def with_using(update: str, default: list[str], named: list[str]) -> str:
    """The update with USING / USING NAMED clauses for the protocol's dataset parameters."""
    if not default and not named:
        return update
    keywords = list(_top_level(update))
    if any(k in ("USING", "WITH") for _, _, k in keywords):
        raise DatasetConflict("using-graph-uri / using-named-graph-uri cannot be combined with USING or WITH")
    clause = " ".join([f"USING <{g}>" for g in default] + [f"USING NAMED <{g}>" for g in named]) + " "
    for start, _, keyword in reversed(keywords):
        if keyword == "WHERE":
            update = update[:start] + clause + update[start:]
    return update
