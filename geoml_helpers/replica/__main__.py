"""``python -m geoml_helpers.replica build|serve``: build or serve an Earth Search replica for labels.

Examples
--------
Needs the built demo data (skipped under doctest):

>>> main(["--help"])  # doctest: +SKIP
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path


def _spec(args):
    from geoml_helpers.replica.build import ReplicaSpec

    if args.project:
        from geoml_helpers.core.project import load_project
        from geoml_helpers.discover.stac_search import replica_spec

        return replica_spec(load_project(args.project), args.data_dir)
    missing = [f"--{k.replace('_', '-')}" for k in ("labels", "class_column", "datetime") if not getattr(args, k)]
    if missing:
        raise SystemExit(f"error: give --project FILE, or {', '.join(missing)}")
    aoi = tuple(float(v) for v in args.aoi.split(",")) if args.aoi else None
    return ReplicaSpec(
        labels=args.labels, class_column=args.class_column, datetime=args.datetime, aoi=aoi, seed=args.seed
    )


def _default_dir(args) -> Path:
    from geoml_helpers.core.profiles import data_root

    if args.project:  # where `stac = "earth-search-replica"` looks for it
        from geoml_helpers.core.project import load_project

        return data_root(args.data_dir) / "replica" / load_project(args.project).name
    return data_root(args.data_dir) / "replica" / Path(args.labels).resolve().parent.name


def main(argv: list[str] | None = None) -> int:
    """Build or serve a replica until interrupted; prints the STAC API's root URL."""
    from geoml_helpers.core.errors import GeomlError

    parser = argparse.ArgumentParser(
        prog="python -m geoml_helpers.replica",
        description="An offline Earth Search replica (synthetic imagery) for your labels.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("build", "serve"):
        p = sub.add_parser(name)
        p.add_argument("--project", default=None, help="a project file: its labels, class column, AOI, dates, seed")
        p.add_argument("--labels", default=None, help="label polygons (GeoJSON, GeoPackage, ...)")
        p.add_argument("--class-column", default=None, help="column holding each polygon's class name")
        p.add_argument("--datetime", default=None, help="START/END dates, e.g. 2022-01-05/2022-02-05")
        p.add_argument(
            "--aoi", default=None, help="west,south,east,north in lon/lat (default: the labels' bounds + 200 m)"
        )
        p.add_argument("--seed", type=int, default=2024)
        p.add_argument(
            "--data-dir", default=None, help="data folder (the replica goes to DATA_DIR/replica/<labels folder name>)"
        )
        p.add_argument("--replica-dir", default=None, help="exact folder of the replica (overrides --data-dir)")
        if name == "serve":
            p.add_argument("--port", type=int, default=None, help="port of the STAC API (default: a free one)")
    args = parser.parse_args(argv)
    try:
        spec = _spec(args)
        folder = Path(args.replica_dir) if args.replica_dir else _default_dir(args)
        if args.command == "build":
            from geoml_helpers.replica.build import ensure_replica

            data = ensure_replica(spec, folder, progress=True)
            print(f"Replica at {data.root} ({data.summary['items']} items; imagery is SYNTHETIC).")
            return 0
        from geoml_helpers.replica.server import serve_replica

        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
        with serve_replica(spec, folder, port=args.port, progress=True) as running:
            print(
                f"STAC API root URL: {running.url}  (stac source name: earth-search-replica). Ctrl-C stops it.",
                flush=True,
            )
            try:
                while running.stac_server.running and running.object_store.running:
                    time.sleep(0.5)
            except KeyboardInterrupt:
                pass
    except GeomlError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
