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


def test_readme_hybrid_block_is_the_one_the_bench_results_give():
    """The "Hybrid learning: what holds" block is rendered from the hybrid baselines on the demo's network
    and the local-features bench (mean +- std, whether each claim holds), not typed."""
    import json

    from biosnn.report import HYBRID_BEGIN, HYBRID_END, readme_hybrid

    text = (ROOT / "README.md").read_text()
    block = text.split(HYBRID_BEGIN, 1)[1].split(HYBRID_END, 1)[0].strip("\n")
    assert block == readme_hybrid(ROOT), "README hybrid block differs from bench/results: run `make readme`"
    digits = json.loads((ROOT / "bench/results/hybrid_baselines_demo_net.json").read_text())["datasets"]["digits"]
    eihl = digits["table"]["eihl"]["accuracy"]
    assert f"| digits | {100 * eihl['mean']:.2f} +- {100 * eihl['std']:.2f}" in block
    holds = digits["claims"]["eihl_ge_stbp_at_15pct_sparsity"]
    assert f"digits: EIHL >= STBP at >= 15 % sparsity {'holds' if holds else 'does not hold'}" in block
    features = json.loads((ROOT / "bench/results/local_features.json").read_text())["datasets"]
    assert {"digits", "waveform"} <= set(features) and all(f"{n} learned" in block for n in features)


def test_readme_tour_shows_what_the_commands_printed():
    """The tour's console block is the transcripts `make tour` recorded (figures/tour/*.txt), not typed."""
    from biosnn.report import TOUR_BEGIN, TOUR_COMMANDS, TOUR_END, readme_tour

    text = (ROOT / "README.md").read_text()
    block = text.split(TOUR_BEGIN, 1)[1].split(TOUR_END, 1)[0].strip("\n")
    assert block == readme_tour(ROOT), "README tour differs from figures/tour/*.txt: run `make tour`"
    for args in TOUR_COMMANDS.values():
        assert f"$ biosnn {' '.join(args)}" in block
    assert "test accuracy" in block and "E rate" in block
