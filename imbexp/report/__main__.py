"""``python -m imbexp.report``: see :mod:`imbexp.report`."""

import sys

from imbexp.report import main

sys.exit(main())
