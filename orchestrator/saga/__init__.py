"""The order saga: definition, engine, Dramatiq worker, breakers, sweeper, dead letters.

Modules: `definition` (the saga as data), `engine` (one advance of one saga), `store` (tables and
the coalesced SQL), `outcomes` (gRPC status -> step outcome), `ports`/`clients` (the calls, over
gRPC), `breaker` (Redis circuit breakers), `sweeper`, `broker` (Dramatiq set-up and the actor),
`worker` (the process), `config`, `metrics`, `invariants` (SPEC §8 checker, a test/ops tool).
"""
