"""Peak RSS of a ZohoCRMBulkWriteOperator loading a 25 MB CSV: a number to read, not a test.

Runs the emulator in a child process (its own memory is not counted), writes the CSV to a temporary
folder, runs the operator in this process (split into parts, zip, streamed upload, create; no wait) and
prints the peak RSS before and after. Memory that did not grow with the file is the point.

    python benchmarks/bulk_write_upload.py [--megabytes 25]
"""

from __future__ import annotations

import argparse
import csv
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

from airflow_provider_zoho.testing import ZohoEmulator, airflow_connection_json


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=float, default=25.0)
    args = parser.parse_args()
    client = ZohoEmulator.DEFAULT_CLIENT
    emulator = subprocess.Popen(
        [sys.executable, "-m", "airflow_provider_zoho.testing", "--client-id", client.client_id,
         "--client-secret", client.client_secret, "--refresh-token", client.refresh_token],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert emulator.stdout is not None
        url = emulator.stdout.readline().strip().split("=", 1)[1]
        os.environ["AIRFLOW_CONN_ZOHO_DEFAULT"] = airflow_connection_json(url, timeout=120)
        from airflow_provider_zoho.operators import ZohoCRMBulkWriteOperator

        with tempfile.TemporaryDirectory() as work:
            source = Path(work) / "contacts.csv"
            with source.open("w", newline="") as handle:
                writer = csv.writer(handle)
                writer.writerow(["Last_Name", "First_Name", "Email", "Description"])
                n = 0
                while handle.tell() < args.megabytes * 1024 * 1024:
                    writer.writerow([f"Boyle{n}", f"Pat{n}", f"pat{n}@example.com", os.urandom(24).hex()])
                    n += 1
            before = peak_rss_mb()
            operator = ZohoCRMBulkWriteOperator(
                task_id="bench", module="Contacts", file=str(source), wait_for_completion=False, reattach_on_retry=False
            )
            result = operator.execute({})  # type: ignore[arg-type]
            size = source.stat().st_size / 1024 / 1024
        print(f"CSV {size:.1f} MB, {n:,} records, {len(result['job_ids'])} job(s)")
        print(f"peak RSS before the upload {before:.0f} MB, after {peak_rss_mb():.0f} MB")
    finally:
        emulator.terminate()
        emulator.wait(10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
