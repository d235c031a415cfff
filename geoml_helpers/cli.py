"""``geoml``: the one command line, with a subcommand per pipeline step.

::

    geoml init --labels fields.gpkg --class-column crop --out fields.toml   # describe your project
    geoml check-source earth-search --collection sentinel-2-l2a              # check the imagery's metadata
    geoml run --project fields.toml --profile ci                             # run the notebooks on it
    geoml demo build --profile ci                                            # the offline demo world
    geoml stac serve --profile ci                                            # its STAC API on 127.0.0.1
    geoml replica serve --project fields.toml                                # an offline Earth Search replica

The older entry points (``geoml-demo``, ``geoml-stac-serve``,
``geoml-run-notebooks``) still work and do the same.

Examples
--------
>>> main(["--help"])  # doctest: +ELLIPSIS
usage: geoml ...
0
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from geoml_helpers.core.errors import GeomlError
from geoml_helpers.core.profiles import PROFILE_NAMES

__all__ = ["SUBCOMMANDS", "main"]

SUBCOMMANDS: tuple[tuple[str, str], ...] = (
    ("init", "inspect a labels file and write a commented project file"),
    ("check-source", "check a STAC source's collection against what the course assumes"),
    ("run", "execute the course notebooks on a project (papermill)"),
    ("demo", "build the offline demo world (`geoml demo build --profile ci`)"),
    ("stac", "serve the demo data as a STAC API on 127.0.0.1 (`geoml stac serve`)"),
    ("replica", "serve an offline Earth Search replica for a project (`geoml replica serve --project FILE`)"),
)
"""The subcommands, in pipeline order (``geoml --help`` lists them so)."""

_DESCRIPTION = """geoml: from labelled polygons to a model and a map.

Pipeline: `geoml init` describes your project (labels, AOI, dates, STAC source) in a TOML file;
`geoml check-source` checks the source's metadata; `geoml run --project FILE` executes the
notebooks 00-08 on it. `demo`, `stac` and `replica` start the offline worlds."""


def _init(args: argparse.Namespace) -> int:
    from geoml_helpers.discover.project_init import init_project

    aoi = tuple(float(v) for v in args.aoi.split(",")) if args.aoi else None
    if aoi is not None and len(aoi) != 4:
        raise GeomlError(f"--aoi takes lon_min,lat_min,lon_max,lat_max, got {args.aoi!r}")
    result = init_project(
        args.labels,
        args.class_column,
        out=args.out,
        stac=args.stac,
        datetime=args.datetime,
        name=args.name,
        collection=args.collection,
        split_column=args.split_column,
        block_size_m=args.block_size,
        aoi=aoi,
        max_cloud_cover=args.max_cloud_cover,
        profile=args.profile,
        seed=args.seed,
        overwrite=args.force,
        check_imagery=not args.no_imagery_check,
        data_dir=args.data_dir,
    )
    print(result.summary)
    print(f"wrote {result.path}")
    print(f"next: geoml check-source --project {result.path}")
    print(f"      geoml run --project {result.path} --profile {args.profile}")
    return 0


def _check_source(args: argparse.Namespace) -> int:
    from geoml_helpers.core.project import load_project
    from geoml_helpers.discover.source_checks import check_source

    bands = bbox = datetime = project = None
    stac, collection = args.source, args.collection
    if args.project:
        project = load_project(args.project)
        bands, datetime = project.bands, project.datetime
        stac = stac or project.stac
        collection = collection or project.collection
        bbox = project.aoi
    if not stac:
        raise GeomlError("give a source name or URL (e.g. `geoml check-source earth-search`) or --project FILE")
    check = check_source(
        stac,
        collection,
        bands=bands,
        bbox=bbox,
        datetime=datetime,
        profile=args.profile,
        data_dir=args.data_dir,
        project=project,
    )
    print(check)
    if check.ok:
        print("OK: the course can read this collection as it is.")
        return 0
    print(f"{len(check.drifts)} drift(s): fix them before loading (each line names the field and the fix).")
    return 1


def _run(rest: Sequence[str]) -> int:
    from geoml_helpers.course.runner import main as run_main

    return run_main(list(rest), prog="geoml run")


def _demo(rest: Sequence[str]) -> int:
    from geoml_helpers.demo.__main__ import main as demo_main

    return demo_main(list(rest))


def _stac(rest: Sequence[str]) -> int:
    if not rest or rest[0] in ("-h", "--help"):
        print("usage: geoml stac serve [--profile ci] [--port PORT] [--data-dir DIR]")
        return 0 if rest else 2
    if rest[0] != "serve":
        print(f"error: unknown `geoml stac` command {rest[0]!r}; use `geoml stac serve`", file=sys.stderr)
        return 2
    from geoml_helpers.services.stac_server import main as serve_main

    return serve_main(list(rest[1:]))


def _replica(rest: Sequence[str]) -> int:
    """``geoml replica build|serve --project FILE``: the replica's own command line, fed from a project file."""
    if not rest or rest[0] in ("-h", "--help"):
        print("usage: geoml replica {build,serve} --project FILE [--port PORT] [--data-dir DIR]")
        print("   or: geoml replica {build,serve} --labels PATH --class-column COL --datetime A/B [--aoi W,S,E,N]")
        return 0 if rest else 2
    try:
        from geoml_helpers.replica.__main__ import main as replica_main
    except ImportError:
        print(
            "error: the Earth Search replica is not available in this checkout (no geoml_helpers.replica). "
            "Use `--stac local` (the demo) or `--stac earth-search`.",
            file=sys.stderr,
        )
        return 2
    command, options = rest[0], list(rest[1:])
    if "--project" in options:
        from geoml_helpers.core.project import load_project

        at = options.index("--project")
        if at + 1 >= len(options):
            raise GeomlError("--project needs a project file, e.g. `geoml replica serve --project fields.toml`")
        project = load_project(options[at + 1])
        del options[at : at + 2]
        data_dir = options[options.index("--data-dir") + 1] if "--data-dir" in options else None
        labels = project.labels_path(data_dir)
        options += ["--labels", str(labels), "--class-column", project.class_column, "--datetime", project.datetime]
        if project.aoi is not None:
            options += ["--aoi", ",".join(str(v) for v in project.aoi)]
    return replica_main([command, *options])


_PASS_THROUGH = {"run": _run, "demo": _demo, "stac": _stac, "replica": _replica}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="geoml", description=_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands, in pipeline order")
    helps = dict(SUBCOMMANDS)

    init = sub.add_parser("init", help=helps["init"], description=helps["init"])
    init.add_argument(
        "--labels", required=True, help="labels file: GeoParquet, FlatGeobuf, GeoPackage, GeoJSON, zipped Shapefile"
    )
    init.add_argument("--class-column", required=True, help="column holding the class (integer codes or strings)")
    init.add_argument(
        "--stac", default="earth-search", help="local | earth-search | planetary-computer | earth-search-replica | URL"
    )
    init.add_argument("--datetime", default="2024-01-01/2024-12-31", help="START/END (default: %(default)s)")
    init.add_argument("--out", required=True, help="the project TOML to write")
    init.add_argument("--name", default=None, help="project name (default: from the labels file)")
    init.add_argument("--collection", default=None, help="STAC collection (default: the source's Sentinel-2 L2A)")
    init.add_argument("--split-column", default=None, help="column holding train/val/test (default: spatial blocks)")
    init.add_argument("--block-size", type=float, default=None, help="spatial block size in m (default: proposed)")
    init.add_argument("--aoi", default=None, help="lon_min,lat_min,lon_max,lat_max (default: labels' extent + margin)")
    init.add_argument("--max-cloud-cover", type=float, default=30.0)
    init.add_argument(
        "--profile",
        default="ci",
        help=f"compute budget to check the imagery volume against: {', '.join(PROFILE_NAMES)}",
    )
    init.add_argument("--seed", type=int, default=0)
    init.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    init.add_argument(
        "--no-imagery-check", action="store_true", help="do not search the source for the AOI and dates (offline)"
    )
    init.add_argument("--data-dir", default=None, help="data folder of the `local` demo source")

    check = sub.add_parser("check-source", help=helps["check-source"], description=helps["check-source"])
    check.add_argument(
        "source", nargs="?", default=None, help="a source name (local, earth-search, ...) or a STAC API URL"
    )
    check.add_argument("--collection", default=None)
    check.add_argument(
        "--project", default=None, help="take source, collection, bands, AOI and dates from a project file"
    )
    check.add_argument("--profile", default="ci", help="demo profile for the `local` source")
    check.add_argument("--data-dir", default=None)

    for name in ("run", "demo", "stac", "replica"):
        sub.add_parser(name, help=helps[name], add_help=False)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``geoml``; returns the exit status (0 ok, 1 failed check or run, 2 bad input)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = _parser()
    if argv and argv[0] in _PASS_THROUGH:
        try:
            return _PASS_THROUGH[argv[0]](argv[1:])
        except GeomlError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, or argparse's usage error
        return int(exc.code or 0)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return {"init": _init, "check-source": _check_source}[args.command](args)
    except GeomlError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
