"""One process per device: single CPU/GPU by default, many under ``torchrun``.

``torchrun --nproc-per-node N [--nnodes M ...] -m modalign train ...`` sets WORLD_SIZE,
RANK and LOCAL_RANK; :func:`setup` then joins the process group (NCCL on GPUs, Gloo on
CPUs) and the model is wrapped in DistributedDataParallel. ``modalign train --devices N``
starts the N local processes itself (torchrun's launcher).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

import torch

from ..devices import torch_device


@dataclass(frozen=True)
class Context:
    rank: int
    world: int
    device: torch.device

    @property
    def main(self) -> bool:
        """Whether this process logs, validates and writes checkpoints."""
        return self.rank == 0


def setup(device: str = "auto") -> Context:
    """The process's rank, world size and device (``device`` as
    :func:`modalign.devices.torch_device` takes it; "cuda" is the local rank's GPU); joins
    the process group if WORLD_SIZE > 1."""
    target = torch_device(device, "--device")
    cuda = target.type == "cuda"
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if cuda and target.index is None:
        target = torch.device("cuda", local_rank)
    if cuda:
        torch.cuda.set_device(target)
    if world > 1 and not torch.distributed.is_initialized():
        torch.distributed.init_process_group("nccl" if cuda else "gloo")
    rank = torch.distributed.get_rank() if world > 1 else 0
    return Context(rank, world, target)


def barrier(context: Context) -> None:
    if context.world > 1:
        torch.distributed.barrier()


def teardown(context: Context) -> None:
    if context.world > 1 and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


def launch_local(devices: int, arguments: list[str]) -> int:
    """Run ``modalign <arguments>`` in ``devices`` local processes (torchrun); exit code."""
    from torch.distributed.run import main as torchrun

    try:
        torchrun(["--standalone", f"--nproc-per-node={devices}", "-m", "modalign", *arguments])
    except SystemExit as err:
        return int(err.code or 0)
    except Exception as err:  # torchrun's ChildFailedError: the workers printed their errors
        print(f"error: training processes failed ({type(err).__name__})", file=sys.stderr)
        return 1
    return 0
