"""Domain errors of experiment management, with seed 003's wording where it has one."""

from __future__ import annotations

from splitlab.errors import Conflict, InvalidState, NotFound


class ExperimentNotFound(NotFound):
    code = "experiment_not_found"

    def __init__(self) -> None:
        super().__init__("Experiment not found")


class DuplicateExperiment(Conflict):
    code = "duplicate_experiment"


class IllegalTransition(InvalidState):
    code = "illegal_transition"


class ExperimentLocked(InvalidState):
    code = "experiment_locked"
