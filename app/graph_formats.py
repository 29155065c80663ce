"""Exports of networkx views: node-link JSON, Cytoscape.js elements, GraphML, GEXF, CSV edge list, DOT, SVG.

All writers are networkx's (and pydot's, matplotlib's); attributes are scalars already, so GraphML and GEXF
open in Gephi and read back with `networkx.read_graphml` with the same node and edge counts.
"""

import csv
import io

import networkx as nx
import orjson

COLOURS = {
    "rejects": "#c0392b",
    "doubts": "#e67e22",
    "proposes": "#2471a3",
    "supports": "#27ae60",
    "demands": "#8e44ad",
    "requests": "#16a085",
    "expects": "#7f8c8d",
    "conditions": "#d4ac0d",
}

BLOCKED = "#c0392b"

FORMATS = {
    "json": "application/json",
    "cytoscape": "application/vnd.cytoscape+json",
    "graphml": "application/graphml+xml",
    "gexf": "application/gexf+xml",
    "csv": "text/csv",
    "dot": "text/vnd.graphviz",
    "svg": "image/svg+xml",
}


def node_link(graph: nx.Graph) -> dict:
    return nx.node_link_data(graph, edges="links")


def node_link_json(graph: nx.Graph) -> bytes:
    """The node-link JSON the API sends: orjson writes a 1M-triple corpus' stances view (8 MB) in 10-20 ms, the
    standard library's encoder in 100-130 ms, a twentieth of the view's cold answer."""
    return orjson.dumps(node_link(graph))


def cytoscape(graph: nx.Graph) -> dict:
    """Cytoscape.js elements, with each edge keyed uniquely (multigraph edges included)."""
    data = nx.cytoscape_data(graph)
    for index, edge in enumerate(data["elements"]["edges"]):
        edge["data"].setdefault("id", f"e{index}")
    return data


def graphml(graph: nx.Graph) -> bytes:
    buffer = io.BytesIO()
    nx.write_graphml(_without_graph_attributes(graph), buffer, named_key_ids=True)
    return buffer.getvalue()


def gexf(graph: nx.Graph) -> bytes:
    buffer = io.BytesIO()
    nx.write_gexf(_without_graph_attributes(graph), buffer)
    return buffer.getvalue()


def edge_csv(graph: nx.Graph) -> str:
    keys = sorted({k for _, _, data in graph.edges(data=True) for k in data})
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["source", "source_label", "target", "target_label", *keys])
    for u, v, data in graph.edges(data=True):
        writer.writerow(
            [u, graph.nodes[u].get("label", ""), v, graph.nodes[v].get("label", ""), *(data.get(k, "") for k in keys)]
        )
    return buffer.getvalue()


def dot(graph: nx.Graph) -> str:
    """Graphviz DOT. Node names are quoted: unquoted, pydot reads `https://…` as node `https` and port `//…`,
    which made every IRI one node named `https`."""
    copy = nx.relabel_nodes(graph, {n: _dot_id(n) for n in graph})
    for _, _, data in copy.edges(data=True):
        if "polarity" in data:
            data["color"] = COLOURS.get(data["polarity"], "#555555")
    return nx.nx_pydot.to_pydot(_without_graph_attributes(copy)).to_string()


def _dot_id(node: object) -> str:
    text = str(node).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


def node_colours(graph: nx.Graph) -> dict[str, str]:
    """One colour per node type (actor kinds, issue kinds, statements...), stable for a given set of types."""
    from matplotlib import colormaps

    palette = colormaps["tab20"]
    kinds = sorted({str(d.get("type", "")) for _, d in graph.nodes(data=True)})
    return {kind: _hex(palette(index % 20)) for index, kind in enumerate(kinds)}


def _hex(rgba: tuple[float, ...]) -> str:
    return "#" + "".join(f"{round(c * 255):02x}" for c in rgba[:3])


MAX_DRAWN_NODES = 499  # networkx lays out 500 nodes or more with scipy (not a dependency); unreadable long before
MAX_DRAWN_ARROWS = 3_000  # matplotlib draws about 650 arrows a second (a directed view): 3,000 take about 5 s
MAX_DRAWN_LINES = 50_000  # and lines in one collection (an undirected view): 19,871 took 1.2 s


class TooLargeToDraw(ValueError):
    """A static drawing of this many nodes or edges: minutes of CPU for a picture nobody can read."""


def draw(graph: nx.Graph, axis, legend: bool = True) -> None:
    """Draw a view on a matplotlib axis: spring layout, nodes coloured by type, edges by polarity.

    TooLargeToDraw past MAX_DRAWN_NODES, or MAX_DRAWN_ARROWS (directed) or MAX_DRAWN_LINES edges, saying how
    to narrow the view or where to look at it whole: at 1M triples the preconditions view (666 nodes) failed for
    want of scipy, and the stances view (20,000 arrows) would keep a core busy for half a minute."""
    nodes, edges = graph.number_of_nodes(), graph.number_of_edges()
    most_edges = MAX_DRAWN_ARROWS if graph.is_directed() else MAX_DRAWN_LINES
    if nodes > MAX_DRAWN_NODES or edges > most_edges:
        raise TooLargeToDraw(
            f"{nodes:,} nodes and {edges:,} edges are too many to draw (at most {MAX_DRAWN_NODES} nodes and "
            f"{most_edges:,} edges): narrow the view (min_weight, source, as_of), open it as html (the "
            "interactive page), or export graphml or gexf for Gephi"
        )
    layout = nx.spring_layout(graph, seed=1, k=1.2 / max(1, len(graph)) ** 0.5)
    by_type = node_colours(graph)
    fill = [by_type[str(d.get("type", ""))] for _, d in graph.nodes(data=True)]
    colours = [COLOURS.get(d.get("polarity", ""), "#777777") for _, _, d in graph.edges(data=True)]
    blocked = [bool(d.get("blocked")) for _, d in graph.nodes(data=True)]
    nx.draw_networkx_nodes(
        graph,
        layout,
        ax=axis,
        node_size=300,
        node_color=fill,
        edgecolors=[BLOCKED if b else "#1f3b57" for b in blocked],
        linewidths=[3 if b else 1 for b in blocked],
    )
    nx.draw_networkx_edges(graph, layout, ax=axis, edge_color=colours, arrows=graph.is_directed())
    nx.draw_networkx_labels(
        graph, layout, ax=axis, labels={n: d.get("label", n) for n, d in graph.nodes(data=True)}, font_size=7
    )
    if legend and graph:
        from matplotlib.lines import Line2D

        polarities = sorted({d["polarity"] for _, _, d in graph.edges(data=True) if d.get("polarity") in COLOURS})
        handles = [Line2D([], [], marker="o", ls="", color=c, label=k or "(untyped)") for k, c in by_type.items()]
        handles += [Line2D([], [], color=COLOURS[p], label=p) for p in polarities]
        if any(blocked):
            handles.append(Line2D([], [], marker="o", ls="", mfc="white", mec=BLOCKED, mew=3, label="blocked"))
        axis.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=7, frameon=False)
    axis.margins(0.15)
    axis.set_axis_off()


def svg(graph: nx.Graph) -> bytes:
    """A static drawing for reports and READMEs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(12, 8))
    try:
        draw(graph, axis)
        buffer = io.BytesIO()
        figure.savefig(buffer, format="svg", bbox_inches="tight")
        return buffer.getvalue()
    finally:
        plt.close(figure)


def _without_graph_attributes(graph: nx.Graph) -> nx.Graph:
    """GraphML/GEXF/DOT writers want scalar graph attributes; keep only those."""
    copy = graph.copy()
    copy.graph = {k: v for k, v in graph.graph.items() if isinstance(v, str | int | float | bool)}
    return copy


def serialize(graph: nx.Graph, name: str) -> tuple[bytes, str]:
    """(body, Content-Type) of the graph in the named format."""
    writers = {
        "json": node_link_json,
        "cytoscape": lambda g: orjson.dumps(cytoscape(g)),
        "graphml": graphml,
        "gexf": gexf,
        "csv": lambda g: edge_csv(g).encode(),
        "dot": lambda g: dot(g).encode(),
        "svg": svg,
    }
    charset = "; charset=utf-8" if name in ("csv", "dot") else ""
    return writers[name](graph), FORMATS[name] + charset
