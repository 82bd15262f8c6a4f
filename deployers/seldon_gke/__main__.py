"""`python -m deployers.seldon_gke ...`: see `deployers.seldon_gke.cli`."""

import sys

from deployers.seldon_gke.cli import main

sys.exit(main())
