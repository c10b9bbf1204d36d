"""`python -m devstack.migrate`: apply every schema's migrations and the demo data, then exit.

Used by docker-compose's one-shot `migrate` service; `make run` does the same before it starts
the processes.
"""

from __future__ import annotations

import asyncio
import os

from devstack import seed
from devstack.services import migrate_all


def main() -> None:
    url = os.environ.get("DATABASE_URL")
    if not url:
        raise SystemExit("environment variable DATABASE_URL is required")
    migrate_all(url)
    for line in asyncio.run(seed.run_all(url)):
        print(line)


if __name__ == "__main__":
    main()
