"""The shape of the code: networks stay in their packages, apps import downwards only, files stay small.

Read as source (AST), not run: comments and docstrings may name a network ("publishing waits on
Mastodon, Bluesky or Threads"); code may not, outside the network's package and the registry.
"""

import ast
import re
from pathlib import Path

import pytest

from channels.networks import NETWORKS

ROOT = Path(__file__).resolve().parent.parent
APPS = ("api", "channels", "posts", "scheduler_project", "workspaces")
LIBRARIES = {"mastodon", "atproto", "atproto_client", "atproto_core", "atproto_identity"}
# Where the words name something else: worker threads of a process.
ALLOWED = {
    ("posts/workers.py", "threads"),
    ("posts/workers.py", "worker pool %s: %d worker threads, queues %s"),
    ("posts/management/commands/run_workers.py", "threads"),
    ("posts/management/commands/run_workers.py", "--threads"),
    ("posts/management/commands/run_workers.py", "--threads must be at least 1"),
    (
        "posts/management/commands/run_workers.py",
        "Run RQ workers on a pool of threads in this process (publishing waits on the network).",
    ),
    ("posts/management/commands/run_workers.py", "Jobs run at once in this process (default 20)."),
}


def shared_python_files() -> list[Path]:
    files = []
    for app in APPS:
        for path in (ROOT / app).rglob("*.py"):
            relative = path.relative_to(ROOT).as_posix()
            if "/migrations/" in relative:
                continue
            if relative.startswith("channels/networks/") and relative.split("/")[2] in NETWORKS:
                continue  # a network's own package
            if relative == "channels/networks/__init__.py":
                continue  # the registry
            files.append(path)
    return files


def docstrings(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                ids.add(id(body[0].value))
    return ids


def network_words(tree: ast.AST) -> list[str]:
    """Names, attributes, imports and string constants (not docstrings) that name a network or
    import a network's client library."""
    skip = docstrings(tree)
    words = "|".join(NETWORKS)
    in_text = re.compile(rf"\b({words})\b", re.IGNORECASE)
    in_name = re.compile("|".join([*(n.upper() for n in NETWORKS), *(n.capitalize() for n in NETWORKS)]))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            modules = [node.module or ""] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            modules = []
        for module in modules:
            parts = module.split(".")
            if parts[0] in LIBRARIES or (
                parts[:2] == ["channels", "networks"] and set(parts[2:3]) & set(NETWORKS)
            ):
                found.append(module)
        if isinstance(node, ast.Name | ast.Attribute | ast.FunctionDef | ast.ClassDef | ast.arg):
            name = getattr(node, "id", None) or getattr(node, "attr", None) or getattr(node, "name", None)
            name = name or getattr(node, "arg", "")
            if in_name.search(name) or name.lower() in NETWORKS:
                found.append(name)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
            if in_text.search(node.value):
                found.append(node.value)
    return found


def test_no_network_outside_its_package():
    offences = []
    for path in shared_python_files():
        relative = path.relative_to(ROOT).as_posix()
        for word in network_words(ast.parse(path.read_text(), relative)):
            if (relative, word) not in ALLOWED:
                offences.append(f"{relative}: {word!r}")
    assert offences == []


def test_no_network_in_shared_templates_styles_or_scripts():
    words = re.compile(rf"\b({'|'.join(NETWORKS)})\b", re.IGNORECASE)
    files = [
        *(ROOT / "templates").rglob("*.html"),
        *(ROOT / "static").rglob("*.css"),
        *(ROOT / "static").rglob("*.js"),
    ]
    offences = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in files
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if words.search(line)
    ]
    assert offences == []


def test_the_check_finds_a_network_in_code():
    """The check above is not blind: each way of naming a network is caught."""
    source = '''
"""Docstrings may say Mastodon."""
import atproto
from channels.networks.threads.adapter import ThreadsAdapter
if channel.network == "bluesky" or channel.network == Network.MASTODON:
    pass
'''
    assert sorted(network_words(ast.parse(source))) == [
        "MASTODON",
        "atproto",
        "bluesky",
        "channels.networks.threads.adapter",
        "channels.networks.threads.adapter.ThreadsAdapter",
    ]


@pytest.mark.parametrize("app", ["workspaces"])
def test_lower_apps_do_not_import_higher_ones(app):
    """workspaces is the lowest app: it imports neither channels, posts nor api."""
    higher = {"channels", "posts", "api"}
    offences = []
    for path in (ROOT / app).rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                modules = [node.module or ""]
            else:
                continue
            offences += [f"{path.relative_to(ROOT)}: {m}" for m in modules if m.split(".")[0] in higher]
    assert offences == []
