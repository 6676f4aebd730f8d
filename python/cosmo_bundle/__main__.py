"""``python -m cosmo_bundle ARGS``: runs the cosmo-bundle executable with ARGS."""

import os
import sys

from ._find_bin import find_cosmo_bundle_bin


def main() -> None:
    binary = find_cosmo_bundle_bin()
    os.execv(binary, [binary, *sys.argv[1:]])


if __name__ == "__main__":
    main()
