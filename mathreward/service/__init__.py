"""The gRPC service's parts, one job per module; :mod:`mathreward.server` puts them together.

- :mod:`.config`: limits and server settings (frozen dataclasses, defaults the CLI flags mirror)
- :mod:`.errors`: the service's exceptions and the one function that maps any error to a gRPC status
- :mod:`.prometheus`: Prometheus metrics on their own registry and port
- :mod:`.auth`: the bearer-token server interceptor
- :mod:`.convert`: messages <-> engine objects (``Verdict``, ``StepScores``)
- :mod:`.engines`: the verifier off the event loop, the PRM behind a dynamic batcher
- :mod:`.servicers`: the three services, thin: validate, call an engine, convert
"""
