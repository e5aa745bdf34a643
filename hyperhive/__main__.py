"""`python -m hyperhive`: the same entry as the console script and hyperhive.py."""

import sys

from hyperhive.entry import main

if __name__ == "__main__":
    sys.exit(main())
