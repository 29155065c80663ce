"""The protocol's `using-graph-uri` / `using-named-graph-uri` for SPARQL Update, as USING clauses.

pyoxigraph takes no dataset for updates, so the parameters become `USING <g>` / `USING NAMED <g>` before the
WHERE of every DELETE/INSERT operation, which is what the SPARQL 1.1 Protocol says they mean; an update that
already has USING or WITH is refused, as the protocol requires.
"""

from app.sparql_text import top_level_words


class DatasetConflict(ValueError):
    """using-graph-uri / using-named-graph-uri given together with USING or WITH in the update."""


def with_using(update: str, default: list[str], named: list[str]) -> str:
    """The update with USING / USING NAMED clauses for the protocol's dataset parameters."""
    if not default and not named:
        return update
    words = top_level_words(update)
    if any(word in ("USING", "WITH") for _, word in words):
        raise DatasetConflict("using-graph-uri / using-named-graph-uri cannot be combined with USING or WITH")
    clause = " ".join([f"USING <{g}>" for g in default] + [f"USING NAMED <{g}>" for g in named]) + " "
    previous = {pos: words[i - 1][1] if i else "" for i, (pos, _) in enumerate(words)}
    for start, word in reversed(words):
        if word == "WHERE" and previous[start] != "DELETE":  # DELETE WHERE takes no USING
            update = update[:start] + clause + update[start:]
    return update
