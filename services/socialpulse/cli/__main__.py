"""``python -m socialpulse.cli``: the same as the ``socialpulse`` console script."""

import sys

from socialpulse.cli.main import main

sys.exit(main())
