"""`python -m kubelite.vmcluster` (what deploy/vm-cluster.sh runs)."""

import sys

from kubelite.vmcluster.cli import main

sys.exit(main())
