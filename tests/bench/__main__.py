"""`make bench`: run every benchmark and print its figures.

Benchmarks are not tests: they print measurements (with the reference they
are compared to, measured in the same run) and never fail on a number.
"""

from __future__ import annotations

from tests.bench import bench_batch_step, bench_storage


def main() -> None:
    bench_batch_step.main()
    bench_storage.main()


if __name__ == "__main__":
    main()
