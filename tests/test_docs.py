"""The docs stay true: docs/api.md is what the served OpenAPI document renders to."""

from __future__ import annotations

from pathlib import Path

import pytest

from ops import apidoc
from tests.helpers import Api


@pytest.fixture
def transport() -> str:
    """The document does not depend on the transport: one in-process gateway is enough."""
    return "inproc"


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

