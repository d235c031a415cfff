"""Sphinx extension: load BokehJS and Panel from the book's own _static/ on the pages that embed a plot.

book/build.py copies the installed ``bokeh*.min.js`` and ``panel.min.js`` into ``_static/``
(geoml_helpers.course.book_pages.copy_offline_js). Pages whose body holds an embedded Bokeh document
(``data-root-id``) get the scripts; the others stay light. Nothing comes from a CDN.
"""

from __future__ import annotations

SCRIPTS = ("bokeh.min.js", "bokeh-gl.min.js", "bokeh-widgets.min.js", "bokeh-tables.min.js", "panel.min.js")


def _add_plot_scripts(app, pagename, templatename, context, doctree) -> None:
    if "data-root-id" in context.get("body", ""):
        # A new list for this page only (app.add_js_file here would add to every later page too);
        # plain strings render as <script src="..."> relative to the page, in this order.
        context["script_files"] = [*context.get("script_files", []), *(f"_static/{script}" for script in SCRIPTS)]


def setup(app):
    """Register the extension with Sphinx: add the plot scripts to every page that holds a plot."""
    app.connect("html-page-context", _add_plot_scripts)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
