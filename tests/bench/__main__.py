"""`make bench`: run every benchmark and print its figures.

Benchmarks are not tests: they print measurements (with the reference they
are compared to, measured in the same run) and never fail on a number.
"""

from __future__ import annotations

from tests.bench import (
    bench_batch_step,
    bench_delivery,
    bench_export_job,
    bench_ingest,
    bench_manifest,
    bench_page,
    bench_publish,
    bench_query,
    bench_storage,
    bench_stored_texts,
    bench_xlsx,
)


def main() -> None:
    bench_batch_step.main()
    bench_ingest.main()
    bench_delivery.main()
    bench_publish.main()
    bench_storage.main()
    bench_page.main()
    bench_query.main()
    bench_export_job.main()
    bench_manifest.main()
    bench_xlsx.main()
    bench_stored_texts.main()


if __name__ == "__main__":
    main()
