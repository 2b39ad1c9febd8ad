"""A torchrun worker command whose rank 1 alone meets a user error while rank 0 waits in a collective.

Run by test_torchrun_training through ``symcl.distributed.launch.relaunch_with_torchrun``.
"""

import sys

import torch
import torch.distributed as dist

from symcl.cli import run_guarded
from symcl.errors import UserInputError


def run() -> int:
    dist.init_process_group("gloo")
    if dist.get_rank() == 1:
        raise UserInputError("rank 1 met bad input")
    dist.all_reduce(torch.ones(1))  # broken when rank 1 leaves
    return 0


if __name__ == "__main__":
    sys.exit(run_guarded(run))
