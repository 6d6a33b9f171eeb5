"""Seed 001's Experiments Platform v1 API, on ``/api/v1``."""

from fastapi import APIRouter

from splitlab.api.v1 import experiments, tokens, users

router = APIRouter(prefix="/api/v1")
router.include_router(experiments.router)
router.include_router(users.router)
router.include_router(tokens.router)

__all__ = ["router"]
