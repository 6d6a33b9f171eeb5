"""What an API process keeps while it serves: admission gates, the control-plane cache, and the
group committer of exposures. See ``docs/request-path.md`` for how they fit together."""
