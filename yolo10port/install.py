"""Where this copy of yolo10port was installed from, so that the light install's upgrade hint names a line that
works: the tool is not on PyPI, so a bare `pip install 'yolo10port[full]'` would find nothing."""

from __future__ import annotations

import json
from importlib import metadata
from urllib.parse import unquote, urlparse

FALLBACK = "pip install 'yolo10port[full] @ git+<the yolo10port repository URL>' (README, \"Installation\")"


def install_source() -> dict | None:
    """PEP 610's direct_url.json of the installed distribution (a folder, a wheel, a git URL), or None."""
    try:
        text = metadata.distribution("yolo10port").read_text("direct_url.json")
    except metadata.PackageNotFoundError:
        return None
    try:
        return json.loads(text) if text else None
    except json.JSONDecodeError:
        return None


def full_install_line(source: dict | None = None) -> str:
    """The pip line that adds the `full` extra from the same source this copy came from."""
    source = install_source() if source is None else source
    if not source or "url" not in source:
        return FALLBACK
    url = source["url"]
    if "vcs_info" in source:
        vcs = source["vcs_info"]
        ref = vcs.get("requested_revision") or vcs.get("commit_id")
        return f"pip install 'yolo10port[full] @ {vcs.get('vcs', 'git')}+{url}{'@' + ref if ref else ''}'"
    parsed = urlparse(url)
    if parsed.scheme == "file":
        path = unquote(parsed.path)
        if source.get("dir_info", {}).get("editable"):
            return f"pip install -e '{path}[full]'"
        return f"pip install '{path}[full]'"  # a folder or a wheel: pip takes the extra after either
    return f"pip install 'yolo10port[full] @ {url}'"
