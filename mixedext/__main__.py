"""Command line: ``python -m mixedext demo``."""

import argparse
import sys

from mixedext.demo import run_demo


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mixedext",
                                     description="mixedext: mixed-effects models for statsmodels")
    parser.add_argument("command", choices=["demo"], help="demo: fit the seed analyses")
    args = parser.parse_args(argv)
    if args.command == "demo":
        run_demo()
    return 0


if __name__ == "__main__":
    sys.exit(main())
