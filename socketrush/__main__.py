"""`python -m socketrush` runs the CLI, exactly like the `socketrush` console script."""

import sys

from socketrush.entrypoint import main

sys.exit(main())
