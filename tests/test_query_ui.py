"""The browser query editor in headless Chromium: it loads offline, runs a query, shows rows and limits."""

import pytest

from tests.browser import chromium_page, outside_hosts
from tests.live import stancegraph_server


@pytest.fixture(scope="module")
def server():
    with stancegraph_server(max_rows=3) as base:
        yield base


def test_editor_runs_the_example_query_and_announces_the_row_limit(server):
    with chromium_page() as (page, requested):
        page.goto(f"{server}/sparql")
        page.wait_for_selector(".yasqe .CodeMirror")
        tab_names = page.locator(".tabPanel, .tab a, [role=tab]").all_inner_texts()
        assert any("Who rejects what" in name for name in tab_names), tab_names
        page.locator(".yasqe_queryButton").first.click()
        page.wait_for_selector(".yasr table tbody tr")
        rows = page.locator(".yasr table tbody tr")
        assert rows.count() == 3
        assert "Russia" in page.locator(".yasr table").inner_text()
        notice = page.locator("#notice")
        notice.wait_for(state="visible")
        assert "row limit" in notice.inner_text() and "3" in notice.inner_text()
    assert outside_hosts(requested) == []
    assert any(url.endswith("/assets/yasgui/yasgui.min.js") for url in requested)


def test_syntax_errors_are_shown_in_the_editor(server):
    with chromium_page() as (page, requested):
        page.goto(f"{server}/sparql")
        page.wait_for_selector(".yasqe .CodeMirror")
        page.evaluate("() => { window.stancegraphYasgui.getTab().setQuery('SELECT * WHERE { ?s ?p }'); }")
        page.locator(".yasqe_queryButton").first.click()
        page.wait_for_selector(".yasr .errorResult, .yasr .error", timeout=10000)
        assert "line 1" in page.locator(".yasr").inner_text()
    assert outside_hosts(requested) == []
