"""The order saga: definition, engine, Dramatiq worker, breakers, sweeper, dead letters."""
