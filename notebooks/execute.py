"""Regenerate the biosnn notebooks from ``build.py`` and execute them in place, so they are committed with outputs.

``make notebooks`` runs this script: every ``notebooks/*.ipynb`` is first rewritten from its cells in
``build.py`` (outputs cleared), then run top to bottom with nbclient in a temporary working folder, and
written back with its outputs (figures, printed tables, the final checks). A notebook opened on the
repository (or rendered in the documentation, ``make docs``) then shows what its story claims.

Usage::

    .venv/bin/python notebooks/execute.py                      # all notebooks
    .venv/bin/python notebooks/execute.py 05_eihl_digits.ipynb  # only the ones named
    .venv/bin/python notebooks/execute.py --no-build            # execute the .ipynb as they are

The notebooks are regenerated and executed one after the other. A cell that fails stops the script with
nbclient's error naming the cell; that notebook's file is then left as ``build.py`` wrote it, without outputs
(it is only written back after a complete run), and the notebooks after it are left as they were. Cell
execution times are not recorded, so a re-execution changes only the outputs that changed.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import click
import nbclient
import nbformat

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import build  # noqa: E402  (notebooks/build.py: the cell lists and their writer)

#: Seconds one cell may run before nbclient stops it.
CELL_TIMEOUT = 600


def execute(path: Path, *, timeout: int = CELL_TIMEOUT) -> float:
    """Execute the notebook at ``path`` in a temporary folder and write it back with its outputs.

    Parameters
    ----------
    path
        A ``.ipynb`` file.
    timeout
        Seconds one cell may run.

    Returns
    -------
    float
        Wall-clock seconds the execution took.

    Raises
    ------
    nbclient.exceptions.CellExecutionError
        If a cell fails; the file is then left as it was.
    """
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="biosnn-nb-") as work:
        client = nbclient.NotebookClient(
            nb, kernel_name="python3", timeout=timeout, record_timing=False, resources={"metadata": {"path": work}}
        )
        client.execute()
    elapsed = time.perf_counter() - start
    nbformat.validate(nb)
    nbformat.write(nb, path)
    return elapsed


@click.command()
@click.argument("names", nargs=-1)
@click.option(
    "--build/--no-build",
    "rebuild",
    default=True,
    show_default=True,
    help="Regenerate the .ipynb from build.py before executing them.",
)
@click.option("--timeout", default=CELL_TIMEOUT, show_default=True, help="Seconds one cell may run.")
def main(names: tuple[str, ...], rebuild: bool, timeout: int) -> None:
    """Regenerate and execute the notebooks NAMES (default: all) in place, keeping their outputs."""
    os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"  # figures land in the outputs
    os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    unknown = sorted(set(names) - set(build.NOTEBOOKS))
    if unknown:
        raise click.BadParameter(f"no notebook named {unknown}; known: {sorted(build.NOTEBOOKS)}", param_hint="NAMES")
    for name in names or build.NOTEBOOKS:  # one at a time: a failure leaves the later notebooks as they were
        path = build.build([name])[0] if rebuild else HERE / name
        click.echo(f">> {path.name}", nl=False)
        click.echo(f": {execute(path, timeout=timeout):.0f} s")


if __name__ == "__main__":
    main()
