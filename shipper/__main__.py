"""Allow ``python -m shipper``."""

from shipper.cli.main import main

main()
