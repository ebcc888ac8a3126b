"""``python -m sotong_standins``."""

import sys

from .cli import main

sys.exit(main())
