"""Command line: ``python -m geoml_helpers.demo build --profile ci``."""

from __future__ import annotations

import argparse
import sys

from geoml_helpers.core.errors import GeomlError
from geoml_helpers.core.profiles import PROFILE_NAMES
from geoml_helpers.demo.build import DEFAULT_SEED, build_demo_data


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``geoml-demo``; returns the exit status."""
    parser = argparse.ArgumentParser(prog="geoml-demo", description="Build the synthetic geoml demo world.")
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser("build", help="build one or more profiles (skips complete ones unless --force)")
    build.add_argument(
        "--profile", action="append", help=f"one of {', '.join(PROFILE_NAMES)}; repeat for several (default: ci)"
    )
    build.add_argument("--data-dir", default=None, help="data folder (default: $GEOML_DATA_DIR or <repo>/data)")
    build.add_argument("--seed", type=int, default=DEFAULT_SEED)
    build.add_argument("--force", action="store_true", help="rebuild even if a complete build exists")
    args = parser.parse_args(argv)
    try:
        for profile in args.profile or ["ci"]:
            demo = build_demo_data(profile, args.data_dir, args.seed, force=args.force)
            print(f"{profile}: {demo.root}")
    except GeomlError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
