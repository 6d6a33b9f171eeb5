"""Seed 001's Experiments Platform v1 API, on ``/api/v1``."""

from fastapi import APIRouter

from splitlab.api.v1 import (
    analytics,
    assignments,
    data_management,
    events,
    experiments,
    exposures,
    tokens,
    users,
)

router = APIRouter(prefix="/api/v1")
router.include_router(experiments.router)
router.include_router(users.router)
router.include_router(tokens.router)
router.include_router(assignments.router)
router.include_router(events.router)
router.include_router(exposures.router)
router.include_router(analytics.router)
router.include_router(data_management.router)

__all__ = ["router"]
