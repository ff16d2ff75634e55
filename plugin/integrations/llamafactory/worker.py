"""One torchrun rank of `metricsft train`: the same argv, no further launching.

    python -m torch.distributed.run --nproc_per_node 2 -m metricsft.integrations.llamafactory.worker CONFIG.yaml ...
"""

from __future__ import annotations

import sys
from typing import Sequence

from metricsft.integrations.llamafactory.cli import prepare, run_in_this_process


def worker_main(argv: Sequence[str]) -> int:
    """Parse `argv` like `metricsft train` and train in this process (this rank)."""
    settings, config, _ = prepare(list(argv))
    return run_in_this_process(settings, config)


if __name__ == "__main__":
    sys.exit(worker_main(sys.argv[1:]))
