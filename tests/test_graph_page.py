"""The interactive view page in headless Chromium: renders every node, a click shows a quote, all offline."""

import httpx
import pytest

from tests.browser import chromium_page, outside_hosts
from tests.live import stancegraph_server


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
        with_quotes = next(e["data"] for e in expected["edges"] if e["data"].get("quotes"))
        point = page.evaluate(
            """([source, target]) => {
                 const cy = window.stancegraphGraph;
                 const edge = cy.edges().filter((e) => e.data("source") === source && e.data("target") === target)[0];
                 const box = cy.container().getBoundingClientRect();
                 const middle = edge.renderedMidpoint();
                 return { x: box.left + middle.x, y: box.top + middle.y };
               }""",
            [with_quotes["source"], with_quotes["target"]],
        )
        page.mouse.click(point["x"], point["y"])
        page.wait_for_selector("#details blockquote.quote")
        shown = page.locator("#details").inner_text()
        assert any(quote in shown for quote in with_quotes["quotes"].split(" | "))
    assert outside_hosts(requested) == []
    assert any(url.endswith("/assets/cytoscape/cytoscape.min.js") for url in requested)
