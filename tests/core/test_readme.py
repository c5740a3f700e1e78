"""The README's tour runs as written (a README that lies is a defect)."""

from __future__ import annotations

import pathlib
import re

import numpy as np
import torch

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def test_readme_tour_runs_and_shows_what_it_says():
    blocks = _python_blocks((ROOT / "README.md").read_text())
    assert blocks, "the README has no python tour"
    scope: dict = {}
    exec(compile(blocks[0], "README.md", "exec"), scope)
    res, tw, S = scope["res"], scope["tw"], scope["S"]
    trains = res.spike_trains["E"]
    assert tuple(trains.shape) == (1000, 4, 10)  # 100 ms at Brian2's default dt = 0.1 ms, B = 4, N = 10
    assert trains.sum() > 0
    indices, times = res.spikes["E"][0]
    assert len(indices) == int(trains[:, 0].sum())
    # STDP changed the weights during the run, and push() wrote trial 0's weights back to Brian2 exactly
    w_trial0 = tw.variable("input_E", "w", 0).detach().cpu().numpy()
    assert not np.array_equal(w_trial0, tw.parameter("input_E", "w").detach().cpu().numpy())
    np.testing.assert_array_equal(np.asarray(S.w[:]), w_trial0)
    assert isinstance(tw, torch.nn.Module)


def test_readme_figures_are_the_ones_the_result_files_give():
    """The figure block is rendered from figures/demo/summary.csv and the twin benchmark's JSON, not typed."""
    from biosnn.report import BEGIN, END, readme_figures

    text = (ROOT / "README.md").read_text()
    block = text.split(BEGIN, 1)[1].split(END, 1)[0].strip("\n")
    assert block == readme_figures(ROOT), "README figures differ from the result files: run `make readme`"
    assert "EIHL" in block and "CUBA" in block


def test_readme_tour_shows_what_the_commands_printed():
    """The tour's console block is the transcripts `make tour` recorded (figures/tour/*.txt), not typed."""
    from biosnn.report import TOUR_BEGIN, TOUR_COMMANDS, TOUR_END, readme_tour

    text = (ROOT / "README.md").read_text()
    block = text.split(TOUR_BEGIN, 1)[1].split(TOUR_END, 1)[0].strip("\n")
    assert block == readme_tour(ROOT), "README tour differs from figures/tour/*.txt: run `make tour`"
    for args in TOUR_COMMANDS.values():
        assert f"$ biosnn {' '.join(args)}" in block
    assert "test accuracy" in block and "E rate" in block
