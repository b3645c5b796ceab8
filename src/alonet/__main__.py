"""``python -m alonet`` runs the command-line interface (same as ``alonet``, exit status included)."""

import sys

from alonet.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
