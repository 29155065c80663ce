"""`stancegraph evidence --fix` pins quotes to the text so encoders never count characters."""

from typer.testing import CliRunner

from app.cli import cli
from app.corpus import Corpus
from app.evidence import Selector, fix_content, place
from app.loader import check

TEXT = "The dialogue can start. The dialogue can only start after renunciation."


def test_place_prefers_stated_start_then_context_then_first():
    assert place(TEXT, "The dialogue can", start=24).start == 24
    assert place(TEXT, "The dialogue can", prefix="start. ").start == 24
    assert place(TEXT, "The dialogue can").start == 0
    assert place(TEXT, "missing words") is None


def test_selector_context_is_taken_from_the_text():
    selector = Selector.at(TEXT, 24, "The dialogue can only")
    assert (selector.prefix, selector.end) == ("The dialogue can start. ", 45)
    assert selector.suffix == " start after renunciation."


def test_fix_fills_offsets_and_is_idempotent():
    content = 'oa:hasSelector [ a oa:TextQuoteSelector ; oa:exact "can only start" ] ] .'
    fixed, changed, missing = fix_content(content, TEXT, lambda _: 1)
    assert (changed, missing) == (1, [])
    assert "oa:start 37 ; oa:end 51" in fixed and 'oa:prefix "ialogue can start. The dialogue "' in fixed
    again, changed_again, _ = fix_content(fixed, TEXT, lambda _: 1)
    assert (again, changed_again) == (fixed, 0)


def test_fix_reports_quotes_it_cannot_find():
    content = 'oa:hasSelector [ a oa:TextQuoteSelector ; oa:exact "never said" ] ] .'
    fixed, changed, missing = fix_content(content, TEXT, lambda _: 7)
    assert (fixed, changed) == (content, 0)
    assert missing == ["line 7: quote not in the text: 'never said'"]


def test_cli_fix_repairs_a_new_quote_in_real_data(data_copy):
    """An encoder writes only oa:exact; --fix adds the rest and the data validates again."""
    path = data_copy.data_dir / "encodings/000_dcc2f28bf5a60eb8.ttl"
    text = path.read_text(encoding="utf-8")
    start = text.index('oa:exact "Nobody does things')
    end = text.index("]", text.index("TextPositionSelector", start)) + 1
    path.write_text(
        text[:start] + 'oa:exact "Nobody does things to his own detriment." ]' + text[end:], encoding="utf-8"
    )
    assert any("quote-10" in str(p) for p in check(Corpus(data_copy), shacl=False)[1])
    result = CliRunner().invoke(cli, ["evidence", "--fix", "--data-dir", str(data_copy.data_dir)])
    assert result.exit_code == 0, result.output
    assert "000_dcc2f28bf5a60eb8.ttl: 1 selector(s) updated" in result.output
    assert [p for p in check(Corpus(data_copy))[1] if p.is_error] == []
