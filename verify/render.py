"""HTML rendering of a :class:`verify.report.Report` for people (Jinja2, autoescaped)."""
from __future__ import annotations

from functools import lru_cache
from typing import Any

__all__ = ["render_html"]


@lru_cache(maxsize=1)
def _environment() -> Any:
    import jinja2

    return jinja2.Environment(loader=jinja2.PackageLoader("verify", "templates"),
                              autoescape=jinja2.select_autoescape(["html"]),
                              trim_blocks=True, lstrip_blocks=True)


def render_html(report: Any) -> str:
    """The report as a self-contained HTML page (the seal picture inlined as a data: URI)."""
    return _environment().get_template("report.html").render(report=report, data=report.to_dict())
