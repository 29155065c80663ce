"""Resource pages in headless Chromium: an IRI dereferences to a page whose links walk the graph, offline."""

import shutil

from app.settings import PROJECT_ROOT
from tests.browser import chromium_page, outside_hosts
from tests.conftest import replace_in
from tests.live import stancegraph_server


def test_an_iri_dereferences_to_a_page_and_its_links_lead_to_neighbours():
    with stancegraph_server() as base, chromium_page() as (page, requested):
        page.goto(f"{base}/id/Russia")
        assert page.locator("h1#label").inner_text() == "Russia"
        assert page.locator("#links a[href='http://www.wikidata.org/entity/Q159']").count() == 1
        assert page.locator("#evidence blockquote").count() > 10
        page.locator(
            "#incoming a", has_text="Russia rejects Russian participation in creating the third site"
        ).first.click()
        page.wait_for_url(f"{base}/id/doc/**")
        assert (
            "Russia rejects Russian participation in creating the third site" in page.locator("h1#label").inner_text()
        )
        assert page.locator("#evidence blockquote").count() >= 1
    assert outside_hosts(requested) == []


def test_a_literal_with_markup_is_shown_as_text(tmp_path):
    shutil.copytree(PROJECT_ROOT / "data", tmp_path / "data")
    replace_in(
        tmp_path / "data" / "entities.ttl", 'rdfs:label "Russia"@en', 'rdfs:label "<script>alert(1)</script>"@en'
    )
    with stancegraph_server(data_dir=tmp_path / "data") as base, chromium_page() as (page, _):
        dialogs: list[str] = []
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        page.goto(f"{base}/id/Russia")
        page.wait_for_timeout(300)
        assert page.locator("h1#label").inner_text() == "<script>alert(1)</script>"
        assert dialogs == []
