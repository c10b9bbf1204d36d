"""Building blocks shared by every process: config, database, gRPC server, auth, logs, metrics."""
