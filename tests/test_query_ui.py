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


def test_the_api_page_works_offline_and_runs_a_named_query(server):
    """FastAPI's own /docs loads Swagger UI from a CDN: offline it was a blank page."""
    with chromium_page() as (page, requested):
        page.goto(f"{server}/docs")
        operation = page.locator("#operations-named_queries-query_who_stands_where")  # listed under each of its tags
        operation.locator(".opblock-summary").click()
        operation.locator("button.try-out__btn").click()
        operation.locator("button.execute").click()
        answer = operation.locator(".live-responses-table tr.response")
        answer.wait_for()
        assert answer.locator(".response-col_status").inner_text().strip() == "200"
        assert "Russia" in answer.locator(".response-col_description").inner_text()
    assert outside_hosts(requested) == []
    assert any(url.endswith("/assets/swagger-ui/swagger-ui-bundle.js") for url in requested)
