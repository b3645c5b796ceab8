"""Device choice and data-parallel training with torch.distributed.

The same ``alonet train`` command runs in one process or under ``torchrun``::

    torchrun --nproc_per_node=4 -m alonet.cli.main train DATASET -o RUN --task all

``torchrun`` sets RANK, WORLD_SIZE and LOCAL_RANK; ``setup`` then joins the
process group (NCCL on CUDA, gloo on CPU) and each process trains on its
shard of every epoch (DistributedSampler) with gradients averaged by
DistributedDataParallel. Only rank 0 logs (``DistContext.log``), shows progress and writes files;
all ranks meet at a barrier at the end of each epoch.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from alonet.errors import InvalidValueError

if TYPE_CHECKING:  # torch is imported where it is used
    import torch


@dataclass
class DistContext:
    """Where this process runs and how it relates to the others."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device | str = "cpu"
    backend: str | None = None
    owns_group: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def log(self, emit: Callable[[str], None], message: str) -> None:
        """``emit(message)`` on rank 0 only; ``emit`` is the caller's logger method
        (``LOG.info``, ``LOG.warning``), so every process's log says each thing once."""
        if self.is_main:
            emit(message)

    def barrier(self) -> None:
        if self.distributed:
            import torch.distributed as dist

            dist.barrier()

    def all_reduce_sum(self, values: list[float]) -> list[float]:
        """Element-wise sum of ``values`` over all processes (float64)."""
        if not self.distributed:
            return list(values)
        import torch
        import torch.distributed as dist

        t = torch.tensor(values, dtype=torch.float64,
                         device=self.device if self.backend == "nccl" else "cpu")
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
        return t.cpu().tolist()

    def broadcast_buffers(self, module) -> None:
        """Copy rank 0's buffers (BatchNorm running statistics) to every rank."""
        if not self.distributed:
            return
        import torch.distributed as dist

        for buffer in module.buffers():
            dist.broadcast(buffer.data, src=0)

    def close(self) -> None:
        if self.owns_group:
            import torch.distributed as dist

            dist.destroy_process_group()
            self.owns_group = False


def resolve_device(name: str = "auto"):
    """``auto`` picks CUDA, then Apple MPS, then CPU; an explicit name must be available."""
    import torch

    mps = getattr(torch.backends, "mps", None)
    has_mps = bool(mps is not None and mps.is_available())
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps" if has_mps else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise InvalidValueError("--device cuda was asked for but no CUDA GPU is available",
                                fix="use --device auto or cpu")
    if name == "mps" and not has_mps:
        raise InvalidValueError("--device mps was asked for but Apple MPS is not available",
                                fix="use --device auto or cpu")
    return torch.device(name)


def setup(device: str = "auto") -> DistContext:
    """Join the torchrun process group if there is one; pick this process's device."""
    import torch

    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistContext(device=resolve_device(device))
    import torch.distributed as dist

    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = torch.cuda.is_available() and device in ("auto", "cuda")
    if device == "cuda" and not use_cuda:
        resolve_device("cuda")  # raises the clear error
    if use_cuda:
        torch.cuda.set_device(local_rank)
        dev = torch.device("cuda", local_rank)
    else:
        dev = torch.device("cpu")
    backend = "nccl" if use_cuda else "gloo"
    owns = False
    if not dist.is_initialized():
        dist.init_process_group(backend=backend)
        owns = True
    return DistContext(rank=rank, world_size=world_size, local_rank=local_rank, device=dev,
                       backend=backend, owns_group=owns)
