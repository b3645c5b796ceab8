"""``python -m alonet`` runs the command-line interface (same as ``alonet``)."""

from alonet.cli.main import main

if __name__ == "__main__":
    main()
