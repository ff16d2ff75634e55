import sys

from metricsft.cli import main

sys.exit(main())
