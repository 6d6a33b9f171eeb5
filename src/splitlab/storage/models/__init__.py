"""Every ORM model, imported here so that ``Base.metadata`` is complete for Alembic."""

from splitlab.storage.models.experiment import Experiment, LifecycleEvent, Metric, Variant
from splitlab.storage.models.tracking import Event, Exposure, ExposureTotal, VariantTotal
from splitlab.storage.models.workspace import (
    ApiToken,
    ControlGeneration,
    DashboardSession,
    User,
    Workspace,
)

__all__ = [
    "ApiToken",
    "ControlGeneration",
    "DashboardSession",
    "Event",
    "Experiment",
    "Exposure",
    "ExposureTotal",
    "LifecycleEvent",
    "Metric",
    "User",
    "Variant",
    "VariantTotal",
    "Workspace",
]
