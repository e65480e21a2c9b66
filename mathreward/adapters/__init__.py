"""Trainer adapters: the callables and HTTP answers that verl, TRL, OpenRLHF and slime load by name.

One module per trainer, each importable on its own and light (no torch, no gRPC at import):

- :mod:`mathreward.adapters.verl`: ``compute_score`` / ``compute_score_batch`` / ``compute_score_async``
  for ``custom_reward_function.path``;
- :mod:`mathreward.adapters.trl`: ``accuracy_reward`` / ``step_reward`` (and async forms) for
  ``GRPOTrainer(reward_funcs=...)``;
- :mod:`mathreward.adapters.openrlhf`: ``reward_func(queries, prompts, labels)`` for ``--remote_rm_url``
  (the same answer as ``POST /get_reward`` of ``mathreward serve --http-port``);
- :mod:`mathreward.adapters.slime`: ``reward_func(args, sample)`` for ``--custom-rm-path`` (the same
  answer as ``POST /slime/reward``).

Each grades in process by default, or through a server with ``server="host:port"`` or
``MATHREWARD_SERVER`` (see :mod:`mathreward.adapters._backend`).
"""

__all__ = ["openrlhf", "slime", "trl", "verl"]
