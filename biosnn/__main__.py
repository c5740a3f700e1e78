"""``python -m biosnn`` runs the command line (see :mod:`biosnn.cli`)."""

from biosnn.cli import main

if __name__ == "__main__":
    main()
