"""``python -m metricsft ...`` is the ``metricsft`` console script."""

import sys

from metricsft.cli import main

if __name__ == "__main__":  # spawned workers (vLLM, DataLoader) re-import __main__
    sys.exit(main())
