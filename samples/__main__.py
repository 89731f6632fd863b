"""``python -m samples`` lists the generators."""

import sys

print(
    "usage: python -m samples.skype --messages N [--bare] [--gzip] [--seed S] OUT", file=sys.stderr
)
sys.exit(2)
