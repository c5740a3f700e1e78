"""The documentation builds with warnings as errors (``make docs``) and holds the pages it promises.

One Sphinx build (the same command as ``make docs``, into a temporary folder) in a subprocess, shared by the
tests and by pytest-xdist's workers, then checks on what it wrote: a page per plasticity rule and per circuit
of the registries, each with its Brian2 statements and its paper; the notebooks rendered with their committed
output images; an entry for every exported name on the API pages; the command-line page with click's help.
"""

from __future__ import annotations

import html
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("sphinx")
pytest.importorskip("numpydoc")
pytest.importorskip("myst_nb")
pytest.importorskip("furo")

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The site, built once per test session: under pytest-xdist the first worker builds, the others wait."""
    from filelock import FileLock

    worker = os.environ.get("PYTEST_XDIST_WORKER")  # xdist workers share their basetemp's parent (this session)
    shared = tmp_path_factory.getbasetemp().parent if worker else tmp_path_factory.getbasetemp()
    out = shared / "docs-site" / "html"
    log = shared / "docs-site" / "build.log"
    with FileLock(str(shared / "docs-site.lock")):
        if not log.exists():
            cmd = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", "docs", str(out)]
            result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
            log.parent.mkdir(parents=True, exist_ok=True)
            log.write_text(f"{result.returncode}\n{result.stdout[-4000:]}\n{result.stderr[-6000:]}")
    returncode, _, output = log.read_text().partition("\n")
    assert returncode == "0", f"sphinx-build failed:\n{output}"
    return out


def _text(page: Path) -> str:
    """The page's text without tags (entities decoded), whitespace collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page.read_text())).split())


def test_every_rule_has_its_page_with_statements_and_paper(site):
    from biosnn.plasticity import RULES

    for name, cls in RULES.items():
        page = site / "_generated" / "rules" / f"{name}.html"
        assert page.exists(), f"no page for the rule {name!r}"
        text = _text(page)
        assert cls.reference.split(",")[0] in text, f"{name}: the paper is not on its page"
        first_statement = cls().model.strip().splitlines()[0]
        assert first_statement in text, f"{name}: its Brian2 model {first_statement!r} is not on its page"
    additive = (site / "_generated" / "rules" / "stdp_additive.html").read_text()
    assert "dapre/dt = -apre / tau_plus : 1 (event-driven)" in html.unescape(additive)
    assert r"\Delta w(\Delta t)" in additive  # the rule's equation, from its docstring, as math


def test_every_circuit_has_its_page_with_equations(site):
    from biosnn.circuits import CIRCUITS

    for name in CIRCUITS:
        assert (site / "_generated" / "circuits" / f"{name}.html").exists(), f"no page for the circuit {name!r}"
    brunel = _text(site / "_generated" / "circuits" / "brunel2000.html")
    assert "dv/dt = -v / tau : V (unless refractory)" in brunel  # the equations the builder hands to Brian2
    assert "v_post += J * int(not_refractory_post)" in brunel  # a synaptic statement
    assert "Brunel 2000, Eq. 21" in brunel  # the paper's figures (PAPER_FIGURES)
    song = _text(site / "_generated" / "circuits" / "song2000.html")
    assert "ge_post += w" in song and "Competitive Hebbian learning" in song


def test_notebooks_are_rendered_with_their_output_images(site):
    pages = sorted((site / "_generated" / "notebooks").glob("*.html"))
    assert {p.stem for p in pages} >= {p.stem for p in (ROOT / "notebooks").glob("*.ipynb")}
    page = site / "_generated" / "notebooks" / "02_song2000_bimodal.html"
    images = re.findall(r'<img[^>]+src="([^"]+\.png)"', page.read_text())
    assert images, "the Song 2000 notebook's page shows no figure"
    assert all((page.parent / src).resolve().is_file() for src in images)
    # its Markdown output (the paper's figures beside the measured ones) is rendered as a table, not as text
    tables = re.findall(r"<table.*?</table>", page.read_text(), flags=re.S)
    assert any("reproduced" in table for table in tables), "the paper-vs-measured table is not a table"


def test_api_page_of_the_twin(site):
    text = _text(site / "_generated" / "api" / "biosnn.twins.html")
    assert "class biosnn.twins. Twin" in text or "class biosnn.twins.Twin" in text
    assert "biosnn.twins. twin" in text or "biosnn.twins.twin" in text


@pytest.mark.parametrize("module", ["biosnn", "biosnn.twins", "biosnn.learning", "biosnn.plasticity", "biosnn.nir"])
def test_api_pages_document_every_exported_name(site, module):
    import importlib
    import inspect

    mod = importlib.import_module(module)
    page = (site / "_generated" / "api" / f"{module}.html").read_text()
    missing = [
        name for name in mod.__all__ if not inspect.ismodule(getattr(mod, name)) and f'id="{module}.{name}"' not in page
    ]
    assert not missing, f"{module}: no entry for {missing}"  # lazily loaded exports included


def test_cli_page_is_clicks_help(site):
    import click

    from biosnn.cli import main

    text = _text(site / "_generated" / "cli.html")
    ctx = click.Context(main, info_name="biosnn")
    for name in main.list_commands(ctx):
        assert f"Usage: biosnn {name} [OPTIONS]" in text, name
    assert "--method" in text and "--resume" in text
