from notify_svc.store import SCHEMA, metadata
from svckit.migrate import run_env

run_env(metadata, SCHEMA)
