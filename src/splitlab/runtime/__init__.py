"""How an API process serves, in two layers (``docs/layers.md``).

The front door, an HTTP adapter: ``guard`` (admission, the caller's token, the body's size) and
``fastpath`` (the hot routes, answered without FastAPI's machinery).

The request path below it, which every HTTP adapter shares: admission gates (``gates``), each
route's unit of work on a gate slot (``unit_of_work``), the control-plane cache (``control``,
``plane``), the group committer of exposures (``committer``) and the hot path that feeds it
(``hotpath``), and the hostile-JSON screen (``screen``). See ``docs/request-path.md`` for how they
fit together.
"""
