"""Authentication and authorisation: API tokens, principals and route dependencies."""
