"""The Python client examples in the README run as written against a real server."""

from __future__ import annotations

import re
from typing import Any

import pytest

from splitlab.client import Splitlab
from tests.conftest import repo_root
from tests.e2e.conftest import ADMIN, Server

pytestmark = pytest.mark.e2e


def client_examples() -> list[str]:
    readme = (repo_root() / "README.md").read_text()
    section = readme.split("## Python client", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


def test_readme_shows_the_three_seed_scenarios() -> None:
    assert len(client_examples()) == 3


def test_readme_client_examples_run_against_a_real_server(
    admin_server: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    first, *rest = client_examples()
    real = f'Splitlab("{admin_server.url}", token="{ADMIN}")'
    assert 'Splitlab("http://127.0.0.1:8000", token="slk_...")' in first
    exec(first.replace('Splitlab("http://127.0.0.1:8000", token="slk_...")', real), {})
    with Splitlab(admin_server.url, ADMIN) as splitlab:
        namespace: dict[str, Any] = {"splitlab": splitlab}
        for example in rest:
            exec(example, namespace)
        assert namespace["events"].stats.accepted == 3
        assert splitlab.results("pricing").total_users == 5_000
        assert len(splitlab.reports("checkout-button-test")) == 1
    printed = capsys.readouterr().out
    assert "conversion compact" in printed
    assert "page_view" in printed
