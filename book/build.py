"""Build the course book from the executed notebooks of one profile.

Usage (the Makefile's ``book`` target calls this after ``make notebooks``)::

    .venv/bin/python book/build.py --profile ci            # build/book/ci/_build/html/index.html
    .venv/bin/python book/build.py --profile ci --check    # and open every page in headless Chromium

It fails (exit 1) on a notebook with an error output, on any Sphinx warning, on a CDN
reference left in an output, and, with ``--check``, on any browser, weight or link problem.
``--check`` also runs the reader checks (placement, class colours, fit, noise, line length;
geoml_helpers.course.reader_checks), prints their counts per check and page and writes them to
``build/book/<profile>/reader-checks.json``; ``--strict-reader`` fails on them too.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import json  # noqa: E402

from geoml_helpers.core.errors import BookError, GeomlError  # noqa: E402
from geoml_helpers.course.book_build import build_book  # noqa: E402
from geoml_helpers.course.book_checks import MAX_PAGE_BYTES, check_book, page_weights  # noqa: E402
from geoml_helpers.course.browser import find_chromium  # noqa: E402
from geoml_helpers.course.reader_checks import (  # noqa: E402
    check_reader_view,
    class_colour_table,
    machine_paths,
    problems_by_page,
)
from geoml_helpers.demo.classes import demo_class_table  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    """Build (and with ``--check`` check) the book; returns the exit status."""
    parser = argparse.ArgumentParser(description="Build the geoml Jupyter Book from build/executed/<profile>/.")
    parser.add_argument("--profile", default="ci")
    parser.add_argument("--executed-root", type=Path, default=None, help="default: build/executed")
    parser.add_argument("--output-dir", type=Path, default=None, help="default: build/book/<profile>")
    parser.add_argument(
        "--check", action="store_true", help="open every page in headless Chromium and check links and weights"
    )
    parser.add_argument(
        "--strict-reader", action="store_true", help="with --check: also fail on any reader-check problem"
    )
    args = parser.parse_args(argv)
    started = time.perf_counter()
    try:
        result = build_book(args.profile, executed_root=args.executed_root, output_dir=args.output_dir)
    except BookError as exc:
        print(f"BOOK FAILED: {exc}", file=sys.stderr)
        return 1
    weights = page_weights(result.html_dir)
    largest = max(weights, key=lambda w: w.total_bytes)
    print(
        f"[book] {len(weights)} pages ({len(result.pages)} notebooks) built in {result.wall_s:.1f} s; "
        f"{sum(w.html_bytes for w in weights) / 2**20:.1f} MB of HTML; largest page {largest.page} "
        f"{largest.total_bytes / 2**20:.2f} MB with the scripts it loads ({largest.html_bytes / 2**20:.2f} MB HTML)"
    )
    heavy = [w for w in weights if w.total_bytes > MAX_PAGE_BYTES]
    if heavy:
        print(
            "BOOK FAILED: pages above 10 MB: "
            + ", ".join(f"{w.page} ({w.total_bytes / 2**20:.1f} MB)" for w in heavy)
            + ". Rasterize or datashade big arrays (hvplot rasterize=True) instead of embedding raw points.",
            file=sys.stderr,
        )
        return 1
    if args.check:
        if not find_chromium():
            print("BOOK CHECK FAILED: no chromium found (apt-get install -y chromium)", file=sys.stderr)
            return 1
        try:
            report = check_book(result.html_dir, result.output_dir / "screenshots")
        except GeomlError as exc:
            print(f"BOOK CHECK FAILED: {exc}", file=sys.stderr)
            return 1
        print(report.summary())
        print(f"[book] screenshots in {result.output_dir / 'screenshots'}")
        table = demo_class_table()
        reader = check_reader_view(
            result,
            report,
            class_colours=class_colour_table(table.colours, table.names, table.labels),
            notebooks_dir=ROOT / "notebooks",
            paths=machine_paths(),
            id_colours=table.colours,
        )
        (result.output_dir / "reader-checks.json").write_text(json.dumps(reader, indent=1) + "\n")
        for name, problems in reader.items():
            counts = ", ".join(f"{page} {n}" for page, n in problems_by_page(problems).items())
            print(f"[reader] {name}: {len(problems)} problems" + (f" ({counts})" if counts else ""))
        print(f"[reader] every problem in {result.output_dir / 'reader-checks.json'}")
        if not report.ok:
            print("BOOK CHECK FAILED:\n  " + "\n  ".join(report.problems), file=sys.stderr)
            return 1
        if args.strict_reader and any(reader.values()):
            failing = ", ".join(f"{k} {len(v)}" for k, v in reader.items() if v)
            print(f"BOOK CHECK FAILED: reader checks: {failing}", file=sys.stderr)
            return 1
    print(f"[book] done in {time.perf_counter() - started:.1f} s. Open it: file://{result.index}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
