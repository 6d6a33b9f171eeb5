"""Assignment: which variant a user sees.

``hashing`` and ``conditions`` are the pure, GrowthBook-compatible core (standard library only);
the service, repository and caches around them hold the experiment rules and the persistence.
"""
