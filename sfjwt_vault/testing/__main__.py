"""`python -m sfjwt_vault.testing [options]`: the same as `sfjwt emulator [options]`."""

import sys

from ..cli import main

if __name__ == "__main__":
    sys.exit(main(["emulator", *sys.argv[1:]]))
