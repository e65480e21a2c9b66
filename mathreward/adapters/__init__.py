"""Trainer adapters: the callables and HTTP answers that verl, TRL, OpenRLHF and slime load by name.

One module per trainer, each importable on its own and light (no torch, no gRPC at import):

- :mod:`mathreward.adapters.verl`: ``compute_score`` / ``compute_score_async`` for
  ``reward.custom_reward_function.path`` (verl 0.9);
- :mod:`mathreward.adapters.trl`: ``accuracy_reward`` / ``step_reward``, ``AccuracyReward`` /
  ``StepReward`` instances with names of their own (and async forms) for ``GRPOTrainer(reward_funcs=...)``;
- :mod:`mathreward.adapters.openrlhf`: ``reward_func(queries, prompts, labels)`` for
  ``--reward.remote_url`` (the same answer as ``POST /get_reward`` of ``mathreward serve --http-port``);
- :mod:`mathreward.adapters.slime`: ``reward_func(args, sample)`` for ``--custom-rm-path`` (the same
  answer as ``POST /slime/reward``).

Each grades in process by default, or through a server with ``server="host:port"`` or
``MATHREWARD_SERVER`` (see :mod:`mathreward.adapters._backend`). The rewards of right, wrong,
no-answer and badly formatted answers, and the strict format mode, are the settings of
:mod:`mathreward.adapters._settings`. ``mathreward adapters`` prints the lines for each trainer.
"""

__all__ = ["openrlhf", "slime", "trl", "verl"]
