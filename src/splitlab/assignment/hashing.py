"""Deterministic bucketing, bit-for-bit compatible with GrowthBook's JavaScript reference SDK.

Pure: this module imports nothing from the rest of Splitlab, only the standard library.

A decision is ``hash(seed, user_id, version)`` → a number in ``[0, 1)`` → the index of the bucket
range containing it (or -1, "not in the experiment"). The seed is the experiment's key unless a
custom seed is set; GrowthBook defaults to hash version 1, Splitlab creates experiments with 2.

- version 1 (biased, kept for old experiments): ``fnv1a32(value + seed) % 1000 / 1000``
- version 2: ``fnv1a32(str(fnv1a32(seed + value))) % 10000 / 10000``

Text rule (the one every Splitlab component and any GrowthBook SDK must share): FNV-1a 32 runs over
the string's **UTF-16 code units**, exactly as the JS SDK's ``str.charCodeAt(i)`` loop does, with
32-bit wrap-around (JS: ``hval += (hval<<1)+(hval<<4)+(hval<<7)+(hval<<8)+(hval<<24)`` is
``hval * 0x01000193 mod 2**32``). So:

- ASCII: one unit per byte, identical to hashing the UTF-8 bytes;
- other Basic Multilingual Plane characters (``é`` = U+00E9, ``用`` = U+7528): one unit, the code
  point itself, *not* the UTF-8 bytes (``é`` is 0xE9, never 0xC3 0xA9);
- characters above U+FFFF (emoji, CJK extension B): two units, the UTF-16 surrogate pair
  (``😀`` U+1F600 hashes as 0xD83D then 0xDE00), *not* the code point;
- a lone surrogate in a Python ``str`` is one unit, as in a JS string;
- no Unicode normalisation: ``"e\\u0301"`` and ``"é"`` are different ids.

SDKs that hash code points (older Python SDKs) or UTF-8 bytes (some server SDKs) agree with this on
ASCII only. ``tests/assignment/vectors_non_ascii.json`` pins the rule with values computed by the
real ``@growthbook/growthbook`` JS package.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

__all__ = [
    "BucketPlan",
    "assign",
    "choose_variation",
    "fnv1a32",
    "get_bucket_ranges",
    "get_equal_weights",
    "hash",
    "in_namespace",
    "in_range",
]

_FNV_OFFSET = 0x811C9DC5
_FNV_PRIME = 0x01000193
_MASK = 0xFFFFFFFF
# Native-order UTF-16, so memoryview.cast("H") reads each code unit back as one integer.
_UTF16 = "utf-16-le" if sys.byteorder == "little" else "utf-16-be"

Range = tuple[float, float]


def _fnv_update(hval: int, text: str) -> int:
    """Continue FNV-1a 32 from ``hval`` over the UTF-16 code units of ``text``."""
    if text.isascii():
        # An ASCII character is one UTF-16 unit equal to its byte: iterate bytes, the fast path.
        for unit in text.encode("ascii"):
            hval = ((hval ^ unit) * _FNV_PRIME) & _MASK
        return hval
    for unit in memoryview(text.encode(_UTF16, "surrogatepass")).cast("H"):
        hval = ((hval ^ unit) * _FNV_PRIME) & _MASK
    return hval


def fnv1a32(text: str) -> int:
    """FNV-1a 32 over UTF-16 code units (GrowthBook JS ``hashFnv32a``), as an unsigned int."""
    return _fnv_update(_FNV_OFFSET, text)


def hash(seed: str, value: str, version: int) -> float | None:
    """GrowthBook's ``hash``: ``[0, 1)`` for versions 1 and 2, ``None`` for an unknown version."""
    if version == 2:
        return fnv1a32(str(fnv1a32(seed + value))) % 10000 / 10000
    if version == 1:
        return fnv1a32(value + seed) % 1000 / 1000
    return None


def get_equal_weights(num_variations: int) -> list[float]:
    """``num_variations`` equal weights (``[]`` for none)."""
    if num_variations <= 0:
        return []
    return [1 / num_variations] * num_variations


def in_range(n: float, range_: Sequence[float]) -> bool:
    """Half-open ``[start, end)`` membership."""
    return range_[0] <= n < range_[1]


def in_namespace(user_id: str, namespace: tuple[str, float, float]) -> bool:
    """Whether the user falls in ``namespace = (id, start, end)``: hash v1 with seed ``"__" + id``.

    Experiments of one namespace with disjoint ``[start, end)`` ranges never share a user.
    """
    namespace_id, start, end = namespace
    n = fnv1a32(user_id + "__" + namespace_id) % 1000 / 1000  # hash("__" + id, user_id, 1)
    return start <= n < end


def get_bucket_ranges(
    num_variations: int,
    coverage: float | None = 1,
    weights: Sequence[float] | None = None,
) -> list[Range]:
    """GrowthBook's ``getBucketRanges``: one ``[start, start + coverage * weight)`` per variation.

    Follows the SDK's lenient rules, because GrowthBook SDKs evaluating the same payload apply
    them too: coverage is clamped to ``[0, 1]``; missing weights, weights of the wrong length or
    weights not summing to 1 ± 0.01 become equal weights. Splitlab itself rejects such weights
    where they enter (the service), and :class:`BucketPlan` refuses them.
    """
    if coverage is None:
        coverage = 1
    coverage = min(max(coverage, 0), 1)
    equal = get_equal_weights(num_variations)
    chosen: Sequence[float] = equal if weights is None else weights
    if len(chosen) != num_variations:
        chosen = equal
    total = 0.0
    for w in chosen:
        total = w + total  # the SDK's reduce order, so the float sum is the same
    if total < 0.99 or total > 1.01:
        chosen = equal
    ranges: list[Range] = []
    cumulative = 0.0
    for w in chosen:
        start = cumulative
        cumulative += w
        ranges.append((start, start + coverage * w))
    return ranges


def choose_variation(n: float, ranges: Sequence[Sequence[float]]) -> int:
    """Index of the first range containing ``n``, or -1 (not in the experiment)."""
    for i, (start, end) in enumerate(ranges):
        if start <= n < end:
            return i
    return -1


@dataclass(frozen=True, slots=True)
class BucketPlan:
    """One experiment's bucketing, validated and precomputed once; :meth:`assign` is the hot path.

    Hash version 2 hashes ``seed + user_id``: the FNV state after the seed is the same for every
    user, so it is computed here once and each decision only hashes the user id.
    """

    seed: str
    hash_version: int
    weights: tuple[float, ...]
    coverage: float = 1.0
    namespace: tuple[str, float, float] | None = None
    ranges: tuple[Range, ...] = field(init=False)
    _seed_state: int = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.hash_version not in (1, 2):
            raise ValueError(f"unsupported hash version {self.hash_version!r} (use 1 or 2)")
        if len(self.weights) < 1:
            raise ValueError("an experiment needs at least one variation weight")
        if not all(math.isfinite(w) and w >= 0 for w in self.weights):
            raise ValueError(f"weights must be finite and non-negative, got {self.weights!r}")
        if not 0.99 <= sum(self.weights) <= 1.01:
            raise ValueError(f"weights must sum to 1, got {sum(self.weights)!r}")
        if not (math.isfinite(self.coverage) and 0 <= self.coverage <= 1):
            raise ValueError(f"coverage must be within [0, 1], got {self.coverage!r}")
        if self.namespace is not None:
            _, start, end = self.namespace
            if not 0 <= start <= end <= 1:
                raise ValueError(f"namespace range must lie within [0, 1], got {self.namespace!r}")
        ranges = get_bucket_ranges(len(self.weights), self.coverage, self.weights)
        object.__setattr__(self, "ranges", tuple(ranges))
        object.__setattr__(self, "_seed_state", fnv1a32(self.seed))

    def bucket(self, user_id: str) -> float:
        """The user's hash value in ``[0, 1)`` for this experiment."""
        if self.hash_version == 1:
            return fnv1a32(user_id + self.seed) % 1000 / 1000
        # Inlined FNV-1a with literal constants: the hot path (see bench/assignment_bench.py).
        hval = self._seed_state
        units = (
            user_id.encode("ascii")
            if user_id.isascii()
            else memoryview(user_id.encode(_UTF16, "surrogatepass")).cast("H")
        )
        for unit in units:
            hval = ((hval ^ unit) * 0x01000193) & 0xFFFFFFFF
        outer = 0x811C9DC5
        for digit in str(hval).encode("ascii"):
            outer = ((outer ^ digit) * 0x01000193) & 0xFFFFFFFF
        return outer % 10000 / 10000

    def assign(self, user_id: str) -> tuple[int, float | None]:
        """``(variation index, hash value)``; index -1 when the user is not in the experiment.

        The hash value is ``None`` when no hash was used: an empty id (GrowthBook skips users
        without a hash attribute value) or a user outside the namespace.
        """
        if not user_id:
            return -1, None
        if self.namespace is not None and not in_namespace(user_id, self.namespace):
            return -1, None
        n = self.bucket(user_id)
        for i, (start, end) in enumerate(self.ranges):
            if start <= n < end:
                return i, n
        return -1, n


@lru_cache(maxsize=4096)
def _plan(
    seed: str,
    hash_version: int,
    weights: tuple[float, ...],
    coverage: float,
    namespace: tuple[str, float, float] | None,
) -> BucketPlan:
    return BucketPlan(seed, hash_version, weights, coverage, namespace)


def assign(
    seed: str,
    hash_version: int,
    user_id: str,
    weights: Sequence[float],
    coverage: float = 1.0,
    namespace: tuple[str, float, float] | None = None,
) -> tuple[int, float | None]:
    """Bucket one user: ``(variation index or -1, hash value used or None)``.

    ``seed`` is the experiment key unless a custom seed is set; ``weights`` are fractions summing
    to 1; ``namespace`` is ``(id, start, end)``. The plan (ranges, seed hash state) is cached per
    experiment shape, so repeated calls only hash the user id. Raises ``ValueError`` for invalid
    weights, coverage, namespace or hash version instead of silently bucketing differently.
    """
    ns = None if namespace is None else tuple(namespace)
    plan = _plan(seed, hash_version, tuple(weights), coverage, ns)
    return plan.assign(user_id)
