"""Allow ``python -m shipper``."""

from shipper.cli import main

main()
