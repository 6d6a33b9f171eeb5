"""Every ORM model, imported here so that ``Base.metadata`` is complete for Alembic."""

from splitlab.storage.models.experiment import Experiment, LifecycleEvent, Metric, Variant
from splitlab.storage.models.tracking import Event, Exposure
from splitlab.storage.models.workspace import ApiToken, DashboardSession, User, Workspace

__all__ = [
    "ApiToken",
    "DashboardSession",
    "Event",
    "Experiment",
    "Exposure",
    "LifecycleEvent",
    "Metric",
    "User",
    "Variant",
    "Workspace",
]
