"""``mathreward adapters``: the config lines that plug this install into verl, TRL, OpenRLHF and slime.

verl and OpenRLHF load a reward by *file path*; ``mathreward adapters --path verl`` prints the path of
the installed module, for ``custom_reward_function.path=$(mathreward adapters --path verl)``.
"""

from __future__ import annotations

import argparse
import importlib.util

TRAINERS = ("verl", "trl", "openrlhf", "slime")


def adapter_path(trainer: str) -> str:
    """The file of ``mathreward.adapters.<trainer>`` in this install (found without importing it)."""
    spec = importlib.util.find_spec(f"mathreward.adapters.{trainer}")
    if spec is None or spec.origin is None:
        raise LookupError(f"mathreward.adapters.{trainer} is not installed")
    return spec.origin


def config_lines(server: str, http: str) -> str:
    """Each trainer's lines, with this install's file paths and the given server addresses."""
    verl, openrlhf = adapter_path("verl"), adapter_path("openrlhf")
    return f"""# verl (in process; add the server line to grade through `mathreward serve`)
custom_reward_function.path={verl}
custom_reward_function.name=compute_score
+custom_reward_function.reward_kwargs.server={server}
# verl, reward_model.reward_manager=batch: custom_reward_function.name=compute_score_batch
# verl, async reward loop:                 custom_reward_function.name=compute_score_async

# TRL
from mathreward.adapters.trl import accuracy_reward, step_reward
GRPOTrainer(..., reward_funcs=[accuracy_reward])   # dataset column `solution` holds the reference

# OpenRLHF (HTTP, through `mathreward serve --http-port ...`, or the file, in process)
--remote_rm_url http://{http}/get_reward --label_key answer
--remote_rm_url {openrlhf} --label_key answer

# slime (HTTP, or the function, in process)
--rm-type remote_rm --rm-url http://{http}/slime/reward --reward-key score
--custom-rm-path mathreward.adapters.slime.reward_func --reward-key score
"""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "adapters",
        help="print the config lines for verl, TRL, OpenRLHF and slime",
        description="Print the config lines that plug mathreward into each trainer, with this install's "
        "file paths. With --path TRAINER, print only the file a trainer loads by path.",
    )
    p.add_argument("--path", choices=TRAINERS, default=None, help="print only this adapter's file path")
    p.add_argument("--server", default="localhost:50051", help="gRPC address to show in the lines")
    p.add_argument("--http", default="localhost:8000", help="HTTP address (--http-port) to show in the lines")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.path is not None:
        print(adapter_path(args.path))
        return 0
    print(config_lines(args.server, args.http), end="")
    return 0
