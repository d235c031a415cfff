"""Addresses of local web apps (dask's dashboard, a panel app) that work behind a Jupyter server proxy.

On a laptop the browser reaches a server on ``127.0.0.1:PORT`` directly. In SageMaker Studio, on a
JupyterHub or on Binder the browser runs elsewhere: it can only reach the Jupyter server, which
forwards ``<base url>proxy/PORT/...`` to ``127.0.0.1:PORT`` through
`jupyter-server-proxy <https://jupyter-server-proxy.readthedocs.io>`_ (in the course environment).
This module decides, from the environment, which of the two addresses to print.

The Jupyter server's base URL is read from, in order:

- ``GEOML_JUPYTER_BASE_URL``: set it yourself when the others guess wrong (e.g. ``/jupyter/default/``
  in SageMaker Studio Classic); an empty value turns the proxy off;
- ``JUPYTERHUB_SERVICE_PREFIX``: set by JupyterHub (and so Binder) for the single-user server, e.g.
  ``/user/ada/``;
- ``SAGEMAKER_APP_TYPE_LOWERCASE``: set in SageMaker Studio's JupyterLab spaces, whose server runs
  under ``/<app type>/default/`` (``/jupyterlab/default/``).

Examples
--------
>>> jupyter_base_url({"JUPYTERHUB_SERVICE_PREFIX": "/user/ada/"})
'/user/ada/'
>>> app_url(5006, "dashboard", environ={})
'http://127.0.0.1:5006/dashboard'
>>> app_url(5006, "dashboard", environ={"JUPYTERHUB_SERVICE_PREFIX": "/user/ada/"})
'/user/ada/proxy/5006/dashboard'
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from geoml_helpers.services.processes import HOST

__all__ = ["DASK_DEFAULT_LINK", "app_url", "dask_dashboard_link", "jupyter_base_url", "use_proxy_for_dask_dashboard"]

DASK_DEFAULT_LINK = "{scheme}://{host}:{port}/status"
"""dask's own ``distributed.dashboard.link``: the address the scheduler's dashboard is bound to."""


def jupyter_base_url(environ: Mapping[str, str] | None = None) -> str | None:
    """The Jupyter server's base URL when the browser reaches local ports only through its proxy, else None.

    Parameters
    ----------
    environ : mapping, optional
        The environment to read (default: ``os.environ``).

    Examples
    --------
    >>> jupyter_base_url({}) is None
    True
    >>> jupyter_base_url({"SAGEMAKER_APP_TYPE_LOWERCASE": "jupyterlab"})
    '/jupyterlab/default/'
    >>> jupyter_base_url({"GEOML_JUPYTER_BASE_URL": "", "JUPYTERHUB_SERVICE_PREFIX": "/user/ada/"}) is None
    True
    """
    env = os.environ if environ is None else environ
    if "GEOML_JUPYTER_BASE_URL" in env:
        base = env["GEOML_JUPYTER_BASE_URL"].strip()
    elif env.get("JUPYTERHUB_SERVICE_PREFIX"):
        base = env["JUPYTERHUB_SERVICE_PREFIX"]
    elif env.get("SAGEMAKER_APP_TYPE_LOWERCASE"):
        base = f"/{env['SAGEMAKER_APP_TYPE_LOWERCASE']}/default/"
    else:
        return None
    if not base:
        return None
    return "/" + base.strip("/") + "/" if base.strip("/") else "/"


def app_url(port: int, path: str = "", host: str = HOST, environ: Mapping[str, str] | None = None) -> str:
    """The address to open for a web app listening on ``host:port``: direct, or through the Jupyter proxy.

    Behind a proxy the address is a path on the Jupyter server (``/user/ada/proxy/5006/dashboard``),
    which the browser resolves against the JupyterLab page it is on.

    Examples
    --------
    >>> app_url(8787, "/status", environ={"SAGEMAKER_APP_TYPE_LOWERCASE": "jupyterlab"})
    '/jupyterlab/default/proxy/8787/status'
    """
    base = jupyter_base_url(environ)
    path = path.lstrip("/")
    if base is None:
        return f"http://{host}:{port}/{path}"
    return f"{base}proxy/{port}/{path}"


def dask_dashboard_link(environ: Mapping[str, str] | None = None) -> str:
    """The ``distributed.dashboard.link`` template for this environment (``{port}`` is dask's to fill).

    Examples
    --------
    >>> dask_dashboard_link({})
    '{scheme}://{host}:{port}/status'
    >>> dask_dashboard_link({"JUPYTERHUB_SERVICE_PREFIX": "/user/ada/"})
    '/user/ada/proxy/{port}/status'
    """
    base = jupyter_base_url(environ)
    return DASK_DEFAULT_LINK if base is None else f"{base}proxy/{{port}}/status"


def use_proxy_for_dask_dashboard(environ: Mapping[str, str] | None = None) -> str:
    """Point dask's dashboard links (``client.dashboard_link``, the cluster widgets) through the Jupyter proxy.

    It sets ``distributed.dashboard.link`` when a proxy is present and the setting is still dask's
    default (a link you configured yourself is kept). Returns the template in effect.

    Examples
    --------
    >>> use_proxy_for_dask_dashboard({})  # no proxy: dask's default stays
    '{scheme}://{host}:{port}/status'
    """
    import dask
    import distributed  # noqa: F401  (its defaults first, so the setting below is not taken for a missing key)

    current = dask.config.get("distributed.dashboard.link", DASK_DEFAULT_LINK)
    wanted = dask_dashboard_link(environ)
    if current == DASK_DEFAULT_LINK and wanted != current:
        dask.config.set({"distributed.dashboard.link": wanted})
        return wanted
    return current
