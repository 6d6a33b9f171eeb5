"""The official Python client for Splitlab, sync and async, on httpx.

from splitlab.client import Splitlab

with Splitlab("http://127.0.0.1:8000", token="slk_...") as splitlab:
    variant = splitlab.assign("checkout_button", "user-123").variant_key
    splitlab.track("user-123", "purchase", experiment="checkout_button", value=19.99)
    print(splitlab.results("checkout_button").recommendation)
"""

from splitlab.client._http import RetryPolicy
from splitlab.client.aio import AsyncSplitlab
from splitlab.client.batcher import AsyncEventBatcher, BatcherStats, EventBatcher
from splitlab.client.errors import (
    APIError,
    AuthenticationError,
    BadRequest,
    Conflict,
    NotFound,
    PayloadTooLarge,
    PermissionDenied,
    ServerError,
    SplitlabError,
    TransportError,
    ValidationError,
)
from splitlab.client.local import (
    AsyncLocalEvaluator,
    ExposureCache,
    FeatureSet,
    LocalAssignment,
    LocalEvaluator,
)
from splitlab.client.models import (
    Assignment,
    Event,
    EventBatchResult,
    Experiment,
    ExperimentResults,
    ExposureBatchResult,
    SampleSize,
    User,
)
from splitlab.client.sync import Splitlab

__all__ = [
    "APIError",
    "Assignment",
    "AsyncEventBatcher",
    "AsyncLocalEvaluator",
    "AsyncSplitlab",
    "AuthenticationError",
    "BadRequest",
    "BatcherStats",
    "Conflict",
    "Event",
    "EventBatchResult",
    "EventBatcher",
    "Experiment",
    "ExperimentResults",
    "ExposureBatchResult",
    "ExposureCache",
    "FeatureSet",
    "LocalAssignment",
    "LocalEvaluator",
    "NotFound",
    "PayloadTooLarge",
    "PermissionDenied",
    "RetryPolicy",
    "SampleSize",
    "ServerError",
    "Splitlab",
    "SplitlabError",
    "TransportError",
    "User",
    "ValidationError",
]
