"""``mathreward adapters``: the lines that plug this install into verl, TRL, OpenRLHF and slime.

Every line printed is one that the tested trainer release accepts: the tests compose verl's own
config with the verl lines, build OpenRLHF's own argument parser from its source and parse the
OpenRLHF lines, and execute the TRL lines before a ``GRPOTrainer`` step (``tests/mathreward/
test_adapters_*.py``). Lines starting with ``#`` are comments; ``export NAME=VALUE`` lines set the
environment of the trainer's processes (OpenRLHF and slime call rewards with no keyword arguments).

``--path TRAINER`` prints only the file that a trainer loads by path.
"""

from __future__ import annotations

import argparse
import importlib.util
import shlex
from urllib.parse import urlencode

from mathreward.adapters._settings import ENV_VARS, RewardSettings

TRAINERS = ("verl", "trl", "openrlhf", "slime")
# the releases the tests run; slime is not on PyPI: its calling convention was read at this commit
TESTED = {
    "verl": "verl 0.9.1",
    "trl": "TRL 1.16.0",
    "openrlhf": "OpenRLHF 0.11.2",
    "slime": "slime @ 624b824a898ab0ec1fcb4d373004c7f3852bf515",
}
_SETTING_FLAGS = {  # CLI flag dest -> settings keyword
    "correct_reward": "correct_reward",
    "incorrect_reward": "incorrect_reward",
    "no_answer_reward": "no_answer_reward",
    "format_reward": "format_reward",
    "strict_format": "strict_format",
}
# TRL AccuracyReward field of each settings keyword
_TRL_FIELDS = {
    "correct_reward": "correct",
    "incorrect_reward": "incorrect",
    "no_answer_reward": "no_answer",
    "format_reward": "format_violation",
    "strict_format": "strict_format",
}


def adapter_path(trainer: str) -> str:
    """The file of ``mathreward.adapters.<trainer>`` in this install (found without importing it)."""
    spec = importlib.util.find_spec(f"mathreward.adapters.{trainer}")
    if spec is None or spec.origin is None:
        raise LookupError(f"mathreward.adapters.{trainer} is not installed")
    return spec.origin


def _text(value: float | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(float(value))


def _verl(settings: dict[str, float | bool], server: str | None) -> list[str]:
    lines = [
        f"# {TESTED['verl']}: hydra overrides for python -m verl.trainer.main_ppo",
        f"reward.custom_reward_function.path={adapter_path('verl')}",
        "reward.custom_reward_function.name=compute_score",
    ]
    lines += [f"+reward.custom_reward_function.reward_kwargs.{k}={_text(v)}" for k, v in settings.items()]
    if server:
        lines.append(f"+reward.custom_reward_function.reward_kwargs.server={server}")
    lines.append(
        "# rows whose data_source is not math go to verl's own scorer; more math sources: "
        "+reward.custom_reward_function.reward_kwargs.math_sources=[my_source]"
    )
    return lines


def _trl(settings: dict[str, float | bool], server: str | None, name: str) -> list[str]:
    fields = {"name": name, **{_TRL_FIELDS[k]: v for k, v in settings.items()}}
    if server:
        fields["server"] = server
    args = ", ".join(f"{k}={v!r}" for k, v in fields.items())
    return [
        f"# {TESTED['trl']}: GRPOTrainer(..., reward_funcs=reward_funcs); the dataset column `solution` "
        "holds the reference",
        "from mathreward.adapters.trl import AccuracyReward",
        f"reward_funcs = [AccuracyReward({args})]",
    ]


def _exports(settings: dict[str, float | bool], server: str | None) -> list[str]:
    lines = [f"export {ENV_VARS[k]}={shlex.quote(_text(v))}" for k, v in settings.items()]
    if server:
        lines.append(f"export MATHREWARD_SERVER={shlex.quote(server)}")
    return lines


def _url(http: str, path: str, settings: dict[str, float | bool]) -> str:
    query = urlencode({k: _text(v) for k, v in settings.items()})
    return f"http://{http}{path}" + (f"?{query}" if query else "")


def _openrlhf(settings: dict[str, float | bool], http: str | None, label_key: str) -> list[str]:
    head = f"# {TESTED['openrlhf']}: flags for python -m openrlhf.cli.train_ppo_ray"
    if http:
        url = _url(http, "/get_reward", settings)
        return [head, f"--reward.remote_url {shlex.quote(url)} --data.label_key {shlex.quote(label_key)}"]
    path = shlex.quote(adapter_path("openrlhf"))
    return [
        head,
        *_exports(settings, None),
        f"--reward.remote_url {path} --data.label_key {shlex.quote(label_key)}",
    ]


def _slime(settings: dict[str, float | bool], http: str | None) -> list[str]:
    head = f"# {TESTED['slime']}: flags for slime's train.py"
    if http:
        url = _url(http, "/slime/reward", settings)
        return [head, f"--rm-type remote_rm --rm-url {shlex.quote(url)} --reward-key score"]
    return [
        head,
        *_exports(settings, None),
        "--custom-rm-path mathreward.adapters.slime.reward_func --reward-key score",
    ]


def trainer_lines(
    trainer: str,
    settings: dict[str, float | bool] | None = None,
    *,
    server: str | None = None,
    http: str | None = None,
    label_key: str = "answer",
    trl_name: str = "accuracy",
) -> list[str]:
    """One trainer's lines. ``settings``: the reward keywords to set (see ``_settings.ENV_VARS``);
    ``server``: grade through this gRPC address (verl, TRL); ``http``: use the HTTP route at this
    address (OpenRLHF, slime) instead of grading in the trainer's process."""
    settings = dict(settings or {})
    RewardSettings.resolve(settings, env={})  # a bad value fails here, not inside the trainer
    if trainer == "verl":
        return _verl(settings, server)
    if trainer == "trl":
        return _trl(settings, server, trl_name)
    if trainer == "openrlhf":
        return _openrlhf(settings, http, label_key)
    if trainer == "slime":
        return _slime(settings, http)
    raise ValueError(f"unknown trainer {trainer!r}: one of {TRAINERS}")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "adapters",
        help="print the config lines for verl, TRL, OpenRLHF and slime",
        description="Print the lines that plug mathreward into each trainer (the tested releases accept "
        "them), with this install's file paths and the given reward settings. Without --server/--http "
        "the grading runs in the trainer's process.",
    )
    p.add_argument("--path", choices=TRAINERS, default=None, help="print only this adapter's file path")
    p.add_argument("--trainer", choices=TRAINERS, default=None, help="print only this trainer's lines")
    p.add_argument("--server", default=None, help="grade through this gRPC address (verl, TRL)")
    p.add_argument("--http", default=None, help="use the HTTP routes at this address (OpenRLHF, slime)")
    p.add_argument("--label-key", default="answer", help="OpenRLHF's dataset field holding the reference")
    p.add_argument("--trl-name", default="accuracy", help="the metric name of the TRL reward")
    p.add_argument("--correct-reward", type=float, default=None, help="reward of a right answer (default 1)")
    p.add_argument("--incorrect-reward", type=float, default=None, help="reward of a wrong one (default -1)")
    p.add_argument(
        "--no-answer-reward", type=float, default=None, help="reward of no answer (default: wrong)"
    )
    p.add_argument(
        "--format-reward", type=float, default=None, help="strict mode: reward of an unboxed answer"
    )
    p.add_argument(
        "--strict-format", action="store_true", default=None, help="only a boxed final answer counts"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.path is not None:
        print(adapter_path(args.path))
        return 0
    settings = {
        key: getattr(args, dest) for dest, key in _SETTING_FLAGS.items() if getattr(args, dest) is not None
    }
    trainers = [args.trainer] if args.trainer else list(TRAINERS)
    blocks = [
        "\n".join(
            trainer_lines(
                t,
                settings,
                server=args.server,
                http=args.http,
                label_key=args.label_key,
                trl_name=args.trl_name,
            )
        )
        for t in trainers
    ]
    print("\n\n".join(blocks))
    return 0
