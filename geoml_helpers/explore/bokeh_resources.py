"""BokehJS extensions from the notebook itself, not from a CDN, so the plots' JavaScript loads offline.

``hv.extension("bokeh")`` writes Panel's notebook bootstrap: BokehJS and Panel come from the
Jupyter server's Panel endpoint (or Panel's CDN), but a third-party BokehJS extension such as
geoviews' ``geoviews.min.js`` comes from the npm CDN that the package's ``package.json`` names
(cdn.jsdelivr.net). Offline, or behind a firewall, that request fails: a console error, and
geoviews' own models do not load. :func:`inline_bokeh_extensions` makes the bootstrap carry
those small bundles inline instead (geoviews: 14 KB); Panel's own bundle keeps its local route.

Examples
--------
>>> inline_bokeh_extensions()
>>> inline_bokeh_extensions()  # idempotent: the bootstrap is wrapped once
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["inline_bokeh_extensions"]

_WRAPPED = "_geoml_inlines_extensions"
#: Extensions whose bundle Panel itself routes to a local endpoint (so never inlined: 0.7 MB).
_ROUTED_BY_PANEL = frozenset({"panel"})


def _extension_name(server_url: object) -> str:
    """``geoviews`` from ``http://localhost:5006/static/extensions/geoviews/geoviews.min.js?v=...``."""
    return str(server_url).split("/static/extensions/", 1)[-1].split("/", 1)[0]


def _without_cdn_urls(bundle_extensions: Callable[..., list[Any]]) -> Callable[..., list[Any]]:
    from bokeh.embed.bundle import ExtensionEmbed

    def bundle_extensions_inline(objs: Any, resources: Any) -> list[Any]:
        # In 'cdn' mode Panel inlines an extension's artifact when it has no CDN URL.
        return [
            embed
            if _extension_name(embed.server_url) in _ROUTED_BY_PANEL
            else ExtensionEmbed(embed.artifact_path, embed.server_url, None)
            for embed in bundle_extensions(objs, resources)
        ]

    setattr(bundle_extensions_inline, _WRAPPED, True)
    return bundle_extensions_inline


def inline_bokeh_extensions() -> None:
    """Make Panel's notebook bootstrap inline third-party BokehJS extensions instead of loading them from a CDN.

    Call it before ``hv.extension("bokeh")`` (or ``pn.extension()``). It changes nothing else: BokehJS
    and Panel load as before, and plots look the same.

    Examples
    --------
    >>> import geoviews.plotting.bokeh  # registers geoviews' BokehJS models, as hv.extension does
    >>> from bokeh.resources import CDN
    >>> from panel.io.resources import bundle_resources
    >>> inline_bokeh_extensions()
    >>> bundle = bundle_resources(None, CDN)
    >>> [url for url in map(str, bundle.js_files) if "geoviews" in url]
    []
    >>> any("geoviews" in script for script in bundle.js_raw)
    True
    """
    import panel.io.resources as panel_resources

    # A private function of Panel 1.10: if a later Panel drops it, plots still work (and the JupyterLab test's
    # no-request-off-127.0.0.1 check says whether the CDN is back).
    current = getattr(panel_resources, "_bundle_extensions", None)
    if current is not None and not getattr(current, _WRAPPED, False):
        panel_resources._bundle_extensions = _without_cdn_urls(current)
