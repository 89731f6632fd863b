"""``python -m samples`` lists the generators."""

import sys

print(
    "usage: python -m samples.skype --messages N [--bare] [--gzip] [--seed S] OUT\n"
    "       python -m samples.datasets OUT [--rows N] [--xlsx-rows N] [--seed S]",
    file=sys.stderr,
)
sys.exit(2)
