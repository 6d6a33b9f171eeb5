"""Time to analyse an experiment from sufficient statistics: 3 variants x 10 metrics.

Each run calls ``splitlab.stats.analyse`` once per metric (control + 2 treatments: Welch tests,
delta-method relative lifts, Holm adjustment, Bayesian chance to beat control and risk), plus one
SRM check, exactly as a results page does. Half the metrics are conversions and half numeric; with
``--cuped`` the numeric ones carry a pre-exposure covariate. Figures are medians over the runs, in
wall-clock time and in process CPU time (which a busy shared machine inflates much less).

    python -m bench.stats_bench [--runs 200] [--metrics 10] [--variants 3] [--cuped]

Target: at most 5 ms per experiment.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from splitlab.stats import RegressionStats, SampleStats, analyse, srm_test

TARGET_MS = 5.0


def _inputs(
    n_metrics: int, n_variants: int, cuped: bool, seed: int = 0
) -> list[list[SampleStats | RegressionStats]]:
    rng = np.random.default_rng(seed)
    metrics: list[list[SampleStats | RegressionStats]] = []
    for m in range(n_metrics):
        variants: list[SampleStats | RegressionStats] = []
        for _ in range(n_variants):
            n = int(rng.integers(9_000, 11_000))
            if m % 2 == 0:
                variants.append(SampleStats.binomial(n, int(rng.binomial(n, 0.1))))
            elif cuped:
                x = rng.gamma(2.0, 5.0, n)
                variants.append(RegressionStats.from_values(x, x + rng.normal(0, 5.0, n)))
            else:
                variants.append(SampleStats.from_values(rng.gamma(2.0, 5.0, n)))
        metrics.append(variants)
    return metrics


def _analyse_experiment(metrics: list[list[SampleStats | RegressionStats]]) -> None:
    first = metrics[0]
    srm_test([s.n for s in first], [1.0] * len(first))
    for variants in metrics:
        analyse(variants[0], variants[1:])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--metrics", type=int, default=10)
    parser.add_argument("--variants", type=int, default=3)
    parser.add_argument("--cuped", action="store_true")
    args = parser.parse_args(argv)

    metrics = _inputs(args.metrics, args.variants, args.cuped)
    for _ in range(10):  # warm imports and caches
        _analyse_experiment(metrics)

    timings = []
    cpu = []
    for _ in range(args.runs):
        start, start_cpu = time.perf_counter(), time.process_time()
        _analyse_experiment(metrics)
        timings.append((time.perf_counter() - start) * 1000.0)
        cpu.append((time.process_time() - start_cpu) * 1000.0)

    median = statistics.median(timings)
    p95 = statistics.quantiles(timings, n=20)[-1]
    per_metric = median / args.metrics
    verdict = "OK" if median <= TARGET_MS else "SLOWER THAN TARGET"
    print(
        f"{args.variants} variants x {args.metrics} metrics"
        f"{' (CUPED on numeric metrics)' if args.cuped else ''}, {args.runs} runs"
    )
    print(f"  median {median:.3f} ms  p95 {p95:.3f} ms  min {min(timings):.3f} ms")
    # CPU time excludes waiting for a core, so it stays meaningful on a shared, loaded machine.
    print(f"  cpu time median {statistics.median(cpu):.3f} ms")
    print(f"  per metric {per_metric:.3f} ms; target <= {TARGET_MS:.1f} ms/experiment: {verdict}")


if __name__ == "__main__":
    main()
