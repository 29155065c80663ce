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
    page = page.replace("{{LARGE}}", str(int(LARGE_VIEW)))
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
  fetch(container.dataset.url).then(async (r) => [r, await r.json()]).then(([response, data]) => {
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
    document.getElementById("count").textContent = `${cy.nodes().length} nodes, ${cy.edges().length} edges`
      + (large ? " (a large view: nodes in rings by degree; export graphml for Gephi's layouts)" : "");
    window.stancegraphGraph = cy;
  });
</script>
</body>
</html>
"""
