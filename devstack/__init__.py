"""The local stack: embedded PostgreSQL and Redis, migrations, demo data, the process supervisor."""
