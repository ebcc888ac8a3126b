"""`sotong-intake-purge`: delete reporter contacts past their retention period.

Run it daily (a Kubernetes CronJob, or cron on one host); it is idempotent and safe next to running services
because it only deletes whole contact rows, which nothing else updates. The report, its history and its events
stay; only the personal data goes. Exit 0 with a JSON line saying how many contacts were purged.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from datetime import UTC, datetime

from sotong_common import database
from sotong_intake import settings
from sotong_intake.store import SubmissionStore


async def purge(chosen: settings.Purge, now: datetime) -> list[str]:
    pool = await database.connect(chosen.database_url, settings.SCHEMA, settings.MIGRATIONS, min_size=1)
    try:
        return await SubmissionStore(pool).purge_contacts(now, chosen.retention)
    finally:
        await pool.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="sotong-intake-purge",
        description=__doc__.split("\n")[0],
        epilog=settings.Purge.describe(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--dry-run", action="store_true", help="only say what the retention rule would purge")
    args = parser.parse_args(argv)
    chosen = settings.Purge.load_or_exit()
    if args.dry_run:
        print(json.dumps({"dry_run": True, "policy": str(chosen.retention)}))
        return
    purged = asyncio.run(purge(chosen, datetime.now(UTC)))
    print(json.dumps({"purged_contacts": len(purged), "at": datetime.now(UTC).isoformat()}))


if __name__ == "__main__":
    main()
