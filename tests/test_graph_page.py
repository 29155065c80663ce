"""The interactive view page in headless Chromium: renders every node, a click shows a quote, all offline."""

import httpx
import pytest

from tests.browser import chromium_page, outside_hosts
from tests.live import stancegraph_server

MIDPOINT = """([source, target, key]) => {
  const cy = window.stancegraphGraph;
  const edge = cy.edges().filter((e) => e.data("source") === source && e.data("target") === target
                                        && (!key || e.data("key") === key))[0];
  const box = cy.container().getBoundingClientRect();
  const middle = edge.renderedMidpoint();
  return { x: box.left + middle.x, y: box.top + middle.y };
}"""


@pytest.fixture(scope="module")
def server():
    with stancegraph_server() as base:
        yield base


@pytest.mark.parametrize("view", ["preconditions", "stances"])
def test_view_page_renders_the_graph_and_shows_evidence_on_click(server, view):
    expected = httpx.get(f"{server}/views/{view}", params={"format": "cytoscape"}).json()["elements"]
    with chromium_page() as (page, requested):
        page.goto(f"{server}/views/{view}")
        page.wait_for_function("() => window.stancegraphGraph !== undefined")
        assert page.evaluate("() => window.stancegraphGraph.nodes().length") == len(expected["nodes"])
        assert page.evaluate("() => window.stancegraphGraph.edges().length") == len(expected["edges"])
        # Click edges with evidence until one is not hidden under a node or another edge (layouts vary).
        shown = ""
        for edge in [e["data"] for e in expected["edges"] if e["data"].get("quotes")][:8]:
            point = page.evaluate(MIDPOINT, [edge["source"], edge["target"], edge.get("key", "")])
            page.mouse.click(point["x"], point["y"])
            page.wait_for_timeout(200)
            shown = page.locator("#details").inner_text()
            if any(quote in shown for quote in edge["quotes"].split(" | ")):
                break
        else:
            raise AssertionError(f"no click on an edge showed its quotes; last panel: {shown!r}")
        assert page.locator("#details blockquote.quote").count() >= 1
    assert outside_hosts(requested) == []
    assert any(url.endswith("/assets/cytoscape/cytoscape.min.js") for url in requested)


def test_a_view_the_server_refuses_says_why_rather_than_drawing_nothing(server):
    with chromium_page() as (page, _):
        page.goto(f"{server}/views/what-blocks/id:Russa")
        page.wait_for_selector("#details .error")
        assert page.locator("#count").inner_text() == "404: no triple mentions https://stancegraph.org/id/Russa"
        refused = page.goto(f"{server}/views/stances?as_of=2009-13-01")  # refused before any page is sent
        assert refused.status == 400 and "not a day of the calendar (month must be in 1..12)" in page.content()


def test_a_large_view_is_laid_out_in_rings_and_says_so(monkeypatch):
    """cose is quadratic: at 1M triples the stances page took 18.5 s to show (2.6 s in rings)."""
    from app import graph_page
    from app.server import create_app
    from app.settings import Settings
    from tests.live import app_server

    monkeypatch.setattr(graph_page, "LARGE_VIEW", 10)
    with app_server(create_app(Settings(validate_on_load=False))) as base, chromium_page() as (page, requested):
        expected = httpx.get(f"{base}/views/preconditions", params={"format": "cytoscape"}).json()["elements"]
        page.goto(f"{base}/views/preconditions")
        page.wait_for_function("() => window.stancegraphGraph !== undefined")
        assert page.evaluate("() => window.stancegraphGraph.nodes().length") == len(expected["nodes"])
        assert "a large view: nodes in rings by degree" in page.locator("#count").inner_text()
    assert outside_hosts(requested) == []


def test_a_view_too_large_for_the_browser_is_not_downloaded_but_linked_for_gephi(monkeypatch):
    from app import graph_page
    from app.server import create_app
    from app.settings import Settings
    from tests.live import app_server

    monkeypatch.setattr(graph_page, "MAX_PAGE_BYTES", 1000)
    with app_server(create_app(Settings(validate_on_load=False))) as base, chromium_page() as (page, _):
        page.goto(f"{base}/views/stances?min_weight=1")
        page.wait_for_selector("#details .error")
        assert "too large to lay out in a browser" in page.locator("#count").inner_text()
        links = page.locator("#details .error a")
        assert links.all_inner_texts() == ["graphml", "gexf"]
        graphml = httpx.get(links.first.get_attribute("href"))
        assert graphml.status_code == 200 and graphml.content.startswith(b"<?xml")
        assert page.evaluate("() => window.stancegraphGraph === undefined"), "nothing was drawn"


def test_a_neighbourhood_cut_short_by_its_limit_says_so(server):
    with chromium_page() as (page, _):
        page.goto(f"{server}/views/ego/id:ThirdSite?depth=3&limit=10")
        page.wait_for_function("() => window.stancegraphGraph !== undefined")
        assert "not the whole neighbourhood: stopped at depth 1 of 3" in page.locator("#count").inner_text()
