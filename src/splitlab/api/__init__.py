"""HTTP adapters: one router module per API dialect over the shared services."""
