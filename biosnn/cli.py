"""The ``biosnn`` command line (click).

``biosnn demo`` runs the main job on data that ships with the package.
"""

from __future__ import annotations

import click


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="biosnn")
def main() -> None:
    """biosnn: Brian2 circuits, their PyTorch twins, and hybrid local/global learning."""


@main.command()
@click.option("--seed", default=0, show_default=True, help="Seed for every random source.")
def demo(seed: int) -> None:
    """Run the main demo on data that ships with the package."""
    from biosnn.circuits.demo import run_demo

    run_demo(seed=seed)


if __name__ == "__main__":  # pragma: no cover
    main()
