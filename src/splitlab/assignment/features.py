"""Names in the GrowthBook SDK payload that the server (``assignment.sdk``) writes and the
Python client (``client.local``) reads: pure, importing nothing, so the client stays free of the
server's storage and web stacks (an import contract in ``.importlinter`` holds it to that)."""

from __future__ import annotations

#: The suffix of the feature valued by variant configs: ``<experiment key>:config``. ``:`` cannot
#: occur in an experiment key, so it never collides with another experiment's feature.
CONFIG_SUFFIX = ":config"
