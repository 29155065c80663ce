"""The browser query editor: YASGUI served from node_modules (installed by `make`, never from a CDN).

Tabs are pre-filled from the named queries in queries/; the endpoint is this server's /sparql; a notice
appears when the server reports that a result was cut at the row limit.
"""

import html
import json

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

from app.http_common import assets_missing
from app.named_queries import NamedQuery
from app.settings import PROJECT_ROOT

YASGUI_DIR = PROJECT_ROOT / "node_modules" / "@zazuko" / "yasgui" / "build"

EXAMPLE_QUERY = """PREFIX sg: <https://stancegraph.org/ontology#>
PREFIX oa: <http://www.w3.org/ns/oa#>
PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>

# Who rejects what: one row per stance, with the verbatim quote.
SELECT ?holderLabel ?targetLabel ?date ?quote WHERE {
  ?stance a sg:Stance ; sg:polarity <https://stancegraph.org/id/polarity/rejects> ;
          sg:holder ?holder ; sg:target ?target ; sg:date ?date ;
          sg:evidence/oa:hasTarget/oa:hasSelector/oa:exact ?quote .
  ?holder rdfs:label ?holderLabel . ?target rdfs:label ?targetLabel .
}
ORDER BY ?date
"""


def mount_assets(app) -> None:
    """Serve the YASGUI build if `make` installed it; the page explains what to run if not."""
    if YASGUI_DIR.is_dir():
        app.mount("/assets/yasgui", StaticFiles(directory=YASGUI_DIR), name="yasgui")


def _tabs(queries: list[NamedQuery]) -> list[dict[str, str]]:
    return [{"name": "Who rejects what", "query": EXAMPLE_QUERY}] + [
        {"name": q.summary or q.name, "query": q.sparql} for q in queries
    ]


def query_page(request: Request) -> Response:
    """The editor page; everything it loads comes from this server."""
    if not YASGUI_DIR.is_dir():
        return assets_missing("query editor's")
    queries = list(request.app.state.named_queries.queries.values())
    tabs = json.dumps(_tabs(queries)).replace("</", "<\\/")
    endpoint = html.escape(str(request.url_for("sparql_get")), quote=True)
    return HTMLResponse(PAGE.replace("{{TABS}}", tabs).replace("{{ENDPOINT}}", endpoint))


PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Stancegraph — SPARQL</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/assets/yasgui/yasgui.min.css">
<style>
  body { font-family: system-ui, sans-serif; margin: 0; }
  header { padding: .6rem 1rem; background: #1f3b57; color: #fff; display: flex; gap: 1rem; align-items: baseline; }
  header h1 { font-size: 1.1rem; margin: 0; }
  header a { color: #cfe3ff; }
  #notice { margin-left: auto; background: #ffe08a; color: #3d2f00; padding: .15rem .5rem; border-radius: 3px; }
  #notice:empty { display: none; }
  .yasgui .autocompleteWrapper { display: none !important; }
</style>
</head>
<body>
<header><h1>Stancegraph SPARQL</h1><a href="/docs">API</a><span id="notice" role="status"></span></header>
<div id="yasgui" data-endpoint="{{ENDPOINT}}"></div>
<script id="tabs" type="application/json">{{TABS}}</script>
<script src="/assets/yasgui/yasgui.min.js"></script>
<script>
  const root = document.getElementById("yasgui");
  const endpoint = root.dataset.endpoint;
  const tabs = JSON.parse(document.getElementById("tabs").textContent);
  // Announce truncation: every answer from our endpoint says whether the row limit cut it.
  const notice = document.getElementById("notice");
  const fetchFromPage = window.fetch.bind(window);
  window.fetch = async (resource, init) => {
    const response = await fetchFromPage(resource, init);
    if (String(resource && resource.url ? resource.url : resource).startsWith(endpoint)) {
      const limit = response.headers.get("Stancegraph-Row-Limit");
      notice.textContent = response.headers.get("Stancegraph-Truncated") === "true"
        ? `Only the first ${limit} rows are shown: the server's row limit cut the result.` : "";
    }
    return response;
  };
  const yasgui = new Yasgui(root, {
    requestConfig: { endpoint: endpoint, method: "POST" },
    copyEndpointOnNewTab: true,
    persistenceId: null,
    endpointCatalogueOptions: { getData: () => [{ endpoint: endpoint }] },
    yasqe: { autocompleters: ["variables"] },
  });
  const first = yasgui.getTab();
  first.setName(tabs[0].name);
  first.setQuery(tabs[0].query);
  for (const tab of tabs.slice(1)) {
    yasgui.addTab(false, { name: tab.name, yasqe: { value: tab.query }, requestConfig: { endpoint: endpoint } });
  }
  window.stancegraphYasgui = yasgui;
</script>
</body>
</html>
"""
