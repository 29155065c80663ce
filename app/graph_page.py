"""The interactive page of a graph view: Cytoscape.js (installed by `make` from npm, never from a CDN).

Pan and zoom, nodes coloured by type, edges by polarity; clicking a node or an edge shows its label and
evidence quotes. The page fetches the same view as Cytoscape.js elements from this server.
"""

import html

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

from app.graph_formats import COLOURS
from app.http_common import assets_missing
from app.settings import PROJECT_ROOT

CYTOSCAPE_DIR = PROJECT_ROOT / "node_modules" / "cytoscape" / "dist"
# Nodes and edges past which the page lays a view out in rings by degree rather than by forces (cose, quadratic:
# at 1M triples the stances view, 20,670 elements, took 18.5 s to show, and 2.6 s in rings).
LARGE_VIEW = 3000
# The largest view (as Cytoscape elements) the page downloads and draws; past it, it says how to narrow the view
# or links its GraphML and GEXF for Gephi. At about 420 bytes an element, 40 MB is about 100,000 nodes and edges
# (a 10M-triple view is ten times the 1M one's 20,000, which took 2.6 s in rings).
MAX_PAGE_BYTES = 40_000_000


def mount_assets(app: FastAPI) -> None:
    if CYTOSCAPE_DIR.is_dir():
        app.mount("/assets/cytoscape", StaticFiles(directory=CYTOSCAPE_DIR), name="cytoscape")


def graph_page(request: Request) -> Response:
    """The page for the view at this URL (its data: the same URL with format=cytoscape)."""
    if not CYTOSCAPE_DIR.is_dir():
        return assets_missing("graph page's")
    data_url = str(request.url.include_query_params(format="cytoscape"))
    title = request.url.path.removeprefix("/views/")
    colours = "".join(
        f'{{ selector: "edge[polarity = \\"{p}\\"]", style: {{ "line-color": "{c}", "target-arrow-color": "{c}" }} }},'
        for p, c in COLOURS.items()
    )
    page = PAGE.replace("{{DATA}}", html.escape(data_url, quote=True)).replace("{{TITLE}}", html.escape(title))
    page = page.replace("{{LARGE}}", str(int(LARGE_VIEW))).replace("{{MAX_BYTES}}", str(int(MAX_PAGE_BYTES)))
    return HTMLResponse(page.replace("/*COLOURS*/", colours))


PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Stancegraph — {{TITLE}}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
  body { font-family: system-ui, sans-serif; margin: 0; display: flex; flex-direction: column; height: 100vh; }
  header { padding: .6rem 1rem; background: #1f3b57; color: #fff; }
  header h1 { font-size: 1.1rem; margin: 0; display: inline; }
  main { flex: 1; display: flex; min-height: 0; }
  #graph { flex: 1; }
  #details { width: 24rem; overflow: auto; padding: .8rem; border-left: 1px solid #ccd; font-size: .9rem; }
  #details blockquote { margin: .5rem 0; padding-left: .6rem; border-left: 3px solid #8aa; }
  #details .error { color: #c0392b; }
</style>
</head>
<body>
<header><h1>Stancegraph view: {{TITLE}}</h1> <span id="count"></span></header>
<main><div id="graph" data-url="{{DATA}}"></div>
<aside id="details"><p>Click a node or an edge to see its evidence.</p></aside></main>
<script src="/assets/cytoscape/cytoscape.min.js"></script>
<script>
  const LARGE = {{LARGE}};
  const MAX_BYTES = {{MAX_BYTES}};
  const container = document.getElementById("graph");
  const details = document.getElementById("details");
  function show(data) {
    details.replaceChildren();
    const heading = document.createElement("h2");
    heading.textContent = data.label || data.polarity || data.name || data.id;
    details.append(heading);
    for (const [key, value] of Object.entries(data)) {
      if (["quotes", "label", "id", "source", "target", "name", "value"].includes(key) || value === "") continue;
      const line = document.createElement("div");
      line.textContent = `${key}: ${value}`;
      details.append(line);
    }
    for (const quote of String(data.quotes || "").split(" | ").filter(Boolean)) {
      const block = document.createElement("blockquote");
      block.className = "quote";
      block.textContent = quote;
      details.append(block);
    }
  }
  function refused(status, data) {  // a view the server cannot give (an unknown resource, a bad filter)
    const detail = typeof data.detail === "string" ? data.detail : JSON.stringify(data.detail);
    document.getElementById("count").textContent = `${status}: ${detail}`;
    details.replaceChildren(Object.assign(document.createElement("p"), { className: "error", textContent: detail }));
  }
  function tooLarge(bytes) {  // read headers first: a view past the page's budget is not even downloaded
    const megabytes = (bytes / 1e6).toFixed(1);
    document.getElementById("count").textContent = `${megabytes} MB: too large to lay out in a browser`;
    const note = Object.assign(document.createElement("p"), { className: "error", textContent:
      `This view is ${megabytes} MB as Cytoscape elements. Narrow it (min_weight, source, as_of) or open it ` +
      "in Gephi: " });
    for (const format of ["graphml", "gexf"]) {
      const link = new URL(container.dataset.url, location);
      link.searchParams.set("format", format);
      note.append(Object.assign(document.createElement("a"), { href: link.href, textContent: format }), " ");
    }
    details.replaceChildren(note);
  }
  const download = new AbortController();
  fetch(container.dataset.url, { signal: download.signal }).then(async (r) => {
    const bytes = Number(r.headers.get("content-length") || 0);
    if (r.ok && bytes > MAX_BYTES) {
      download.abort();
      return tooLarge(bytes);
    }
    return [r, await r.json()];
  }).then((answer) => {
    if (!answer) return;
    const [response, data] = answer;
    if (!response.ok) return refused(response.status, data);
    const elements = data.elements.nodes.length + data.elements.edges.length;
    const large = elements > LARGE;
    const cy = cytoscape({
      container,
      elements: data.elements,
      layout: large ? { name: "concentric", animate: false, minNodeSpacing: 2 } : { name: "cose", animate: false },
      style: [
        { selector: "node", style: { label: "data(label)", "font-size": 9, "text-wrap": "wrap",
          "text-max-width": 120, "background-color": "#9fb7cc" } },
        { selector: "node[type = \\"state\\"], node[type = \\"person\\"], node[type = \\"ministry\\"]",
          style: { "background-color": "#1f3b57" } },
        { selector: "node[type = \\"stance\\"], node[type = \\"event\\"]", style: { "background-color": "#c9a227" } },
        { selector: "node[?blocked]", style: { "border-width": 3, "border-color": "#c0392b" } },
        { selector: "edge", style: { width: 2, "curve-style": "bezier", "target-arrow-shape": "triangle",
          "line-color": "#888", "target-arrow-color": "#888" } },
        /*COLOURS*/
      ],
    });
    cy.on("tap", "node, edge", (event) => show(event.target.data()));
    const truncated = Object.fromEntries(data.data).truncated;  // networkx sends graph attributes as pairs
    document.getElementById("count").textContent = `${cy.nodes().length} nodes, ${cy.edges().length} edges`
      + (large ? " (a large view: nodes in rings by degree; export graphml for Gephi's layouts)" : "")
      + (truncated ? ` (not the whole neighbourhood: ${truncated}; raise limit)` : "");
    window.stancegraphGraph = cy;
  });
</script>
</body>
</html>
"""
