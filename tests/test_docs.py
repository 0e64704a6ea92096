"""The docs stay true and self-contained: docs/api.md is what the served OpenAPI document
renders to, and no tracked file points at anything outside this repository."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from ops import apidoc
from tests.helpers import Api

ROOT = Path(__file__).resolve().parent.parent

#: References to files that live beside a checkout, not in it (a clone has none of them;
#: case matters: docs/api.md is ours), and to an issue tracker by number. Written as
#: patterns, so this file does not match itself.
OUTSIDE = re.compile(r"\.\./shared|\b(DESIGN|API|STYLE)\.md\b|(?i:\bissue #\d+)")

#: A relative link target in markdown: `](path)` or `](path#anchor)`.
MD_LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)\s]*)?\)")


def tracked_text_files() -> dict[str, str]:
    """Path -> text of every file git tracks, binary ones (a NUL byte, not UTF-8) left out."""
    names = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, check=True,
                           capture_output=True).stdout.decode().split("\0")
    files = {}
    for name in filter(None, names):
        path = ROOT / name
        if not path.is_file():  # deleted in the working tree, not yet committed
            continue
        data = path.read_bytes()
        if b"\0" in data:
            continue
        try:
            files[name] = data.decode()
        except UnicodeDecodeError:
            continue
    return files


async def test_api_doc_is_rendered_from_the_served_document(api: Api) -> None:
    reply = await api.call("GET", "/api/openapi.json")
    assert reply.status == 200
    committed = apidoc.DEFAULT_OUTPUT.read_text()
    assert apidoc.render(reply.body) == committed, (
        "docs/api.md is stale: run `python -m ops.apidoc` (or `make docs`) and commit it")


def test_check_mode_tells_a_stale_file_from_a_fresh_one(tmp_path: Path) -> None:
    output = tmp_path / "api.md"
    output.write_text("# something else\n")
    assert apidoc.main(["--check", "--output", str(output)]) == 1
    assert apidoc.main(["--output", str(output)]) == 0
    assert apidoc.main(["--check", "--output", str(output)]) == 0


def test_no_tracked_file_refers_outside_the_repository() -> None:
    files = tracked_text_files()
    assert "README.md" in files  # the listing really ran from the repository root
    hits = [f"{name}:{number}: {line.strip()}"
            for name, text in files.items()
            for number, line in enumerate(text.splitlines(), 1) if OUTSIDE.search(line)]
    assert not hits, "references outside the repository:\n" + "\n".join(hits)


def test_relative_markdown_links_resolve_inside_the_repository() -> None:
    files = tracked_text_files()
    broken = []
    for name, text in files.items():
        if not name.endswith(".md"):
            continue
        for target in MD_LINK.findall(text):
            if re.match(r"[a-z]+:", target):  # http:, https:, mailto: go elsewhere on purpose
                continue
            resolved = (ROOT / name).parent / target
            if not resolved.resolve().is_relative_to(ROOT) or not resolved.exists():
                broken.append(f"{name}: {target}")
    assert not broken, "links to nothing in this repository:\n" + "\n".join(broken)
