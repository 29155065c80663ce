"""The example notebooks run top to bottom, on the embedded store and against a live server, and draw figures."""

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from app.settings import PROJECT_ROOT
from tests.live import stancegraph_server

NOTEBOOKS = sorted((PROJECT_ROOT / "notebooks").glob("*.ipynb"))
TOKEN = "notebook-test-token"


def execute(path: Path, figures: Path, env: dict[str, str]) -> nbformat.NotebookNode:
    """Run the notebook in a fresh kernel with `env` set (the kernel inherits this process's environment)."""
    notebook = nbformat.read(path, as_version=4)
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env | {"STANCEGRAPH_FIGURES": str(figures)})
    try:
        NotebookClient(
            notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(figures)}}
        ).execute()
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        os.environ.pop("STANCEGRAPH_FIGURES", None)
    return notebook


def images(notebook: nbformat.NotebookNode) -> list[str]:
    return [
        output["data"]["image/png"]
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        if "data" in output and "image/png" in output["data"]
    ]


def test_there_are_three_notebooks_committed_without_outputs():
    assert [p.stem for p in NOTEBOOKS] == ["1-positions", "2-preconditions", "3-linking"]
    for path in NOTEBOOKS:
        notebook = nbformat.read(path, as_version=4)
        nbformat.validate(notebook)
        assert all(
            not c.get("outputs") and not c.get("execution_count") for c in notebook.cells if c.cell_type == "code"
        )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_on_the_embedded_store(path, tmp_path):
    notebook = execute(path, tmp_path, {"STANCEGRAPH_URL": ""})
    assert any("asking the embedded store" in o.get("text", "") for o in notebook.cells[1].outputs)
    assert images(notebook) and all(len(image) > 10_000 for image in images(notebook))
    files = list(tmp_path.glob("*.png"))
    assert files and all(f.stat().st_size > 10_000 for f in files)


@pytest.fixture(scope="module")
def server():
    with stancegraph_server(admin_token=TOKEN) as base:
        yield base


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_against_a_live_server(path, tmp_path, server):
    notebook = execute(path, tmp_path, {"STANCEGRAPH_URL": server, "STANCEGRAPH_ADMIN_TOKEN": TOKEN})
    assert any(f"asking {server}" in o.get("text", "") for o in notebook.cells[1].outputs)
    assert images(notebook)
    assert list(tmp_path.glob("*.png"))
