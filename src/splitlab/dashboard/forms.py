"""Turning the experiment form into the service's input, and service errors into field errors."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic import ValidationError
from starlette.datastructures import FormData

from splitlab.errors import AppError
from splitlab.experiments.schemas import ExperimentSettings, ExperimentSpec, VariantSpec

SETTING_MESSAGES = {
    "confidence_level": "Enter a confidence level between 0.5 and 1, such as 0.95",
    "min_sample_size": "Enter at least 1",
    "minimum_detectable_effect": "Enter a lift above 0% and at most 1000%, such as 5",
}

FIELD_NAMES = {
    "variants": "variants",
    "targeting": "targeting",
    "percentage": "percentage",
    "roles": "roles",
    "condition": "condition",
    "namespace": "namespace",
}


def _percent(text: str) -> float:
    return float(text) / 100


@dataclass
class ExperimentForm:
    """What the person typed, kept as text so a failed submit shows it back unchanged."""

    key: str = ""
    name: str = ""
    description: str = ""
    hypothesis: str = ""
    variants: list[dict[str, str]] = field(
        default_factory=lambda: [
            {"key": "control", "name": "Control", "allocation": "50"},
            {"key": "treatment", "name": "Treatment", "allocation": "50"},
        ]
    )
    control: str = "0"
    percentage: str = "100"
    roles: str = ""
    condition: str = ""
    confidence_level: str = "0.95"
    min_sample_size: str = "100"
    minimum_detectable_effect: str = "5"  # percent, as people say it
    sticky_bucketing: bool = True
    override_enabled: bool = True
    sequential_testing: bool = False
    cuped: bool = True
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_form(cls, form: FormData) -> ExperimentForm:
        keys = [str(v) for v in form.getlist("variant_key")]
        names = [str(v) for v in form.getlist("variant_name")]
        allocations = [str(v) for v in form.getlist("variant_allocation")]
        variants = [
            {"key": k.strip(), "name": n.strip(), "allocation": a.strip()}
            for k, n, a in zip(keys, names, allocations, strict=False)
            if k.strip() or n.strip() or a.strip()
        ]
        return cls(
            key=str(form.get("key", "")).strip(),
            name=str(form.get("name", "")).strip(),
            description=str(form.get("description", "")).strip(),
            hypothesis=str(form.get("hypothesis", "")).strip(),
            variants=variants,
            control=str(form.get("control", "0")),
            percentage=str(form.get("percentage", "100")).strip(),
            roles=str(form.get("roles", "")).strip(),
            condition=str(form.get("condition", "")).strip(),
            confidence_level=str(form.get("confidence_level", "0.95")).strip(),
            min_sample_size=str(form.get("min_sample_size", "100")).strip(),
            minimum_detectable_effect=str(form.get("minimum_detectable_effect", "5")).strip(),
            sticky_bucketing=form.get("sticky_bucketing") == "on",
            override_enabled=form.get("override_enabled") == "on",
            sequential_testing=form.get("sequential_testing") == "on",
            cuped=form.get("cuped") == "on",
        )

    #: The settings this form edits (not the hash seed or bucket version, which it never shows).
    SETTING_FIELDS: ClassVar[frozenset[str]] = frozenset(
        {
            "sticky_bucketing",
            "override_enabled",
            "sequential_testing",
            "cuped",
            "confidence_level",
            "min_sample_size",
            "minimum_detectable_effect",
        }
    )
    #: The targeting fields this form edits; an edit keeps any other as it was.
    TARGETING_FIELDS: ClassVar[frozenset[str]] = frozenset({"percentage", "roles", "condition"})

    def targeting(self) -> dict[str, Any]:
        targeting: dict[str, Any] = {}
        try:
            percentage = float(self.percentage or 100)
            # 100% is what no percentage means; leaving it out keeps edits from logging a change.
            if percentage != 100:
                targeting["percentage"] = percentage
        except ValueError:
            self.errors["percentage"] = "Enter a number from 0 to 100"
        roles = [r.strip() for r in self.roles.split(",") if r.strip()]
        if roles:
            targeting["roles"] = roles
        if self.condition:
            try:
                targeting["condition"] = json.loads(self.condition)
            except ValueError:
                self.errors["condition"] = 'Enter a JSON object, e.g. {"plan": "premium"}'
        return targeting

    def variant_specs(self) -> list[VariantSpec] | None:
        specs = []
        for index, row in enumerate(self.variants):
            try:
                allocation = float(row["allocation"]) if row["allocation"] else None
                specs.append(
                    VariantSpec(
                        key=row["key"],
                        name=row["name"] or None,
                        allocation=allocation,
                        is_control=str(index) == self.control,
                    )
                )
            except ValueError as exc:
                message = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else str(exc)
                self.errors["variants"] = f"Variant {index + 1}: {message}"
                return None
        return specs

    def settings(self) -> ExperimentSettings | None:
        """The analysis settings, validated by the API's own schema; errors go beside each field."""
        values: dict[str, Any] = {
            "sticky_bucketing": self.sticky_bucketing,
            "override_enabled": self.override_enabled,
            "sequential_testing": self.sequential_testing,
            "cuped": self.cuped,
        }
        numbers: tuple[tuple[str, str, Callable[[str], float], str], ...] = (
            ("confidence_level", self.confidence_level, float, "a number such as 0.95"),
            ("min_sample_size", self.min_sample_size, int, "a whole number such as 100"),
            ("minimum_detectable_effect", self.minimum_detectable_effect, _percent, "a percent"),
        )
        for name, text, parse, example in numbers:
            try:
                values[name] = parse(text)
            except ValueError:
                self.errors[name] = f"Enter {example}"
        # Validate what did parse too, so every bad field is flagged in one submit.
        failed = any(name in self.errors for name, *_ in numbers)
        try:
            settings = ExperimentSettings(**values)
        except ValidationError as exc:
            for error in exc.errors():
                name = str(error["loc"][0])
                self.errors.setdefault(name, SETTING_MESSAGES.get(name, error["msg"]))
            return None
        return None if failed else settings

    def to_spec(self) -> ExperimentSpec | None:
        targeting = self.targeting()
        variants = self.variant_specs()
        settings = self.settings()
        if not self.name:
            self.errors["name"] = "A name is required"
        if self.errors or settings is None:
            return None
        try:
            return ExperimentSpec(
                key=self.key or None,
                name=self.name,
                description=self.description or None,
                hypothesis=self.hypothesis or None,
                variants=variants,
                targeting=targeting,
                settings=settings,
            )
        except ValidationError as exc:
            for error in exc.errors():
                self.errors[str(error["loc"][0])] = error["msg"]
            return None

    def absorb(self, error: AppError) -> None:
        """Put a service error beside the field it is about (or at the top of the form)."""
        if error.code == "duplicate_experiment":
            self.errors["name" if "name" in error.message else "key"] = error.message
            return
        details = error.details if isinstance(error.details, list) else []
        for detail in details:
            loc = [part for part in detail.get("loc", []) if part not in ("body",)]
            if loc:
                target = str(loc[-1] if loc[0] == "targeting" else loc[0])
                if loc[0] == "config" and len(loc) > 1:
                    target = str(loc[1])
                self.errors[FIELD_NAMES.get(target, target)] = error.message
                return
        self.errors["form"] = error.message
