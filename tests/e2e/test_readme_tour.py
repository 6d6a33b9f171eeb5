"""The README's Quick tour, every curl command in order, against a real ``splitlab serve``.

The tour's bash blocks run as written, but for the two lines that name the server and the token
(set here) and ``curl``, which fails on an HTTP error (``--fail-with-body``): every step of the
tour must succeed, in the order the README gives them.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable

import pytest

from tests.conftest import repo_root
from tests.e2e.conftest import ADMIN, Server

pytestmark = pytest.mark.e2e


def tour_blocks() -> list[str]:
    readme = (repo_root() / "README.md").read_text()
    section = readme.split("## Quick tour", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.*?)```", section, flags=re.S)


def test_the_quick_tour_runs_step_by_step(serve: Callable[..., Server]) -> None:
    bash, curl = shutil.which("bash"), shutil.which("curl")
    if bash is None or curl is None:
        pytest.skip("the tour needs bash and curl")
    blocks = tour_blocks()
    assert len(blocks) >= 2
    script = "\n".join(blocks)
    # The reader's own server and token, in place of the README's placeholders.
    script = re.sub(r"^export (SPLITLAB|TOKEN)=.*$", "", script, flags=re.M)
    assert script.count("curl ") >= 25
    server = serve(env={"SPLITLAB_ADMIN_TOKEN": ADMIN})
    prologue = (
        "set -eu\n"  # no pipefail: `curl … | head` ends its curl early, on purpose
        f"export SPLITLAB={server.url} TOKEN={ADMIN}\n"
        # Each step must succeed: an HTTP error stops the tour and names the step.
        'curl() { echo "+ curl $*" >&2; command curl --fail-with-body "$@"; echo; }\n'
    )
    done = subprocess.run(
        [bash, "-c", prologue + script],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"{done.stderr[-3000:]}\n{done.stdout[-3000:]}"
    # The tour ends by concluding the experiment it ran.
    assert '"status":"completed"' in done.stdout.replace(" ", "")
