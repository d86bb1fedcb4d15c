"""Runs ``mangetamain.serve`` from the checkout: ``python serve.py run|restart``."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "src"))

from mangetamain.serve import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
