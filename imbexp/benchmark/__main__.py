"""``python -m imbexp.benchmark``."""

from imbexp.benchmark import main

main()
