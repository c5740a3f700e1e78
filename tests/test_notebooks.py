"""Every notebook in notebooks/ runs top to bottom (nbclient) and leaves its figures in its outputs.

Each notebook ends with cells that assert what its story states (bimodal weights, restored balance, equal
spikes ...), so a notebook whose result no longer holds fails here, not only one that crashes.
"""

from __future__ import annotations

import pathlib

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOKS = sorted((pathlib.Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))

#: The least number of figures each notebook must leave in its outputs.
MIN_FIGURES = {
    "01_plasticity_zoo.ipynb": 2,
    "02_song2000_bimodal.ipynb": 3,
    "03_vogels2011_balance.ipynb": 3,
    "04_one_model_two_engines.ipynb": 3,
    "05_eihl_digits.ipynb": 2,
    "06_plasticity_ablation.ipynb": 3,
}


def test_all_six_notebooks_are_there():
    assert {p.name for p in NOTEBOOKS} >= set(MIN_FIGURES), sorted(p.name for p in NOTEBOOKS)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_and_shows_its_figures(path, tmp_path, monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    monkeypatch.setenv("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        nb, kernel_name="python3", timeout=300, resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()  # raises CellExecutionError, naming the cell, if any cell fails
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    figures = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(figures) >= MIN_FIGURES.get(path.name, 1), f"{path.name}: {len(figures)} figures in its outputs"
