"""Sphinx configuration of the biosnn documentation (``make docs``: warnings are errors).

The rule, circuit, API and command-line pages and the copies of the notebooks are generated from the code
when the build starts (``_ext/biosnn_docs.py``, into ``_generated/``). The notebooks are rendered with the
outputs committed in their ``.ipynb`` files (myst-nb, never executed here; ``make notebooks`` executes them).
"""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))
os.environ.setdefault("MPLBACKEND", "Agg")
# numpydoc reports a docstring section it does not know (and drops it) as a Python warning, which Sphinx's -W
# does not see: make it an error, so the build fails naming the docstring.
warnings.filterwarnings("error", category=UserWarning, module=r"numpydoc\..*")

import biosnn  # noqa: E402

project = "biosnn"
author = "the biosnn authors"
copyright = "2026, the biosnn authors"  # noqa: A001 - Sphinx's name
version = release = biosnn.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.mathjax",
    "numpydoc",
    "myst_nb",
    "biosnn_docs",
]

exclude_patterns = ["_build", "_ext", "**/.ipynb_checkpoints", "jupyter_execute"]
source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}

# autodoc / numpydoc: members in each module's __all__, in source order; NumPy-style sections parsed by numpydoc.
autodoc_default_options = {"member-order": "bysource"}
autodoc_typehints = "none"  # signatures without the (long) hints; the Parameters sections state each type
numpydoc_show_class_members = False  # members are listed by autodoc's :members:, not as autosummary stubs
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

# myst-nb: render the stored outputs, never execute (the suite executes the notebooks; make notebooks stores them).
nb_execution_mode = "off"
nb_render_markdown_format = "gfm"  # Markdown outputs (the paper-vs-measured tables) with their pipe tables
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3

html_theme = "furo"
html_title = f"biosnn {release}"
