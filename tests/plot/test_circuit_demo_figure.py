"""The circuit demo's figure (``biosnn circuit-demo``): its labels and titles, and bins drawn over their width,
read back from the matplotlib Figure of short real runs of both circuits."""

from __future__ import annotations

import numpy as np
import pytest
from biosnn.circuits.demo import _song, _vogels, demo_figure
from brian2 import second
from click.testing import CliRunner

from biosnn.cli import main


@pytest.fixture(scope="module")
def results():
    import brian2

    brian2.prefs["codegen.target"] = "numpy"
    return _vogels(0, before=0.3 * second, after=0.2 * second), _song(0, duration=4.0, bin_s=1.0)


def test_labels_titles_and_legends(results):
    fig = demo_figure(*results)
    axes = fig.axes
    assert [a.get_title() for a in axes] == [
        "Vogels 2011: iSTDP on at 0.3 s",
        "one E neuron: inhibition comes to track excitation",
        "Song 2000: weights become bimodal",
        "Song 2000: output rate",
    ]
    assert [a.get_ylabel() for a in axes] == [
        "E rate (Hz, 100 ms bins)",
        "current (pA)",
        "synapses",
        "output rate (Hz, 1 s bins)",
    ]
    assert all(a.get_xlabel() == ("w / g_max" if k == 2 else "time (s)") for k, a in enumerate(axes))
    labels = [[t.get_text() for t in a.get_legend().get_texts()] for a in axes[:3]]
    assert labels == [
        ["E population rate", "iSTDP on (0.3 s)", "target rho0 = 3 Hz"],
        ["excitatory + background", "inhibitory (sign flipped)"],
        ["start (uniform)", "after 4 s"],
    ]


def test_every_rate_bin_has_its_width(results):
    """The output rate's first bin spans 0 .. 1 s (a step plot at the right edges drew it with no width)."""
    _, s = results
    fig = demo_figure(*results)
    (stairs,) = [p for p in fig.axes[3].patches]
    values, edges, _ = stairs.get_data()
    assert np.array_equal(edges, [0.0, 1.0, 2.0, 3.0, 4.0]) and np.array_equal(values, s["rate"])
    assert fig.axes[3].get_xlim() == (0.0, 4.0)


def test_command_help_says_what_it_does_and_where_it_writes():
    out = " ".join(CliRunner().invoke(main, ["circuit-demo", "--help"]).output.split())
    assert "plain Brian2" in out and "no PyTorch twin" in out
    assert "--out DIRECTORY" in out and "[default: runs/circuit-demo]" in out
    result = CliRunner().invoke(main, ["circuit-demo", "--out", ""])
    assert result.exit_code == 2 and "expected a folder name" in result.output
