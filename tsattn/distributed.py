"""Data-parallel training under torchrun: the ranks, their process group, their shares.

Every rank holds the whole scaled series and draws the same shuffled order of windows each
epoch (same seed). Step i's batch is the same `batch_size` windows as in one process, and
rank r trains on every W-th of them, so no window is seen twice and none is padded in.
A rank's loss is scaled by W x (its windows / the batch's windows): after DDP averages the
gradients over W ranks, the step is the gradient of the whole batch's mean loss, whatever
the share sizes. A last batch smaller than W is merged into the one before, so every rank
has at least one window in every step and all ranks take the same number of steps.
Losses are summed over ranks (sum and count), so every rank sees the same validation loss
and stops on the same epoch.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel

from tsattn.errors import UsageError
from tsattn.training import ScaledBatch
from tsattn.windows import Windows

# a peer that died is noticed by the launcher; this only bounds a hang it cannot see
COLLECTIVE_TIMEOUT = timedelta(minutes=30)


@dataclass(frozen=True)
class Cluster:
    """This process's place in a torchrun job."""

    rank: int
    world_size: int
    local_rank: int

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def detect(environ: Mapping[str, str] = os.environ) -> Cluster | None:
    """The cluster torchrun describes in RANK, WORLD_SIZE and LOCAL_RANK; None when alone."""
    names = ("RANK", "WORLD_SIZE", "LOCAL_RANK")
    if not all(name in environ for name in names):
        return None
    try:
        rank, world, local = (int(environ[name]) for name in names)
    except ValueError as exc:
        raise UsageError(f"RANK, WORLD_SIZE and LOCAL_RANK must be whole numbers ({exc}); "
                         "start several processes with torchrun") from exc
    if world < 1 or not 0 <= rank < world or local < 0:
        raise UsageError(f"RANK {rank} does not fit WORLD_SIZE {world}; "
                         "start several processes with torchrun")
    return Cluster(rank, world, local) if world > 1 else None


class Shards:
    """The `Replicas` of a torchrun job: each rank's share of every batch, sums over ranks."""

    def __init__(self, cluster: Cluster, device: torch.device) -> None:
        self.cluster = cluster
        self.device = device
        self.is_main = cluster.is_main

    @classmethod
    def start(cls, cluster: Cluster, device: torch.device) -> Shards:
        """Join the process group: NCCL with one GPU per local rank, else gloo on CPUs."""
        if device.type == "cuda":
            device = torch.device("cuda", cluster.local_rank)
            torch.cuda.set_device(device)
            backend = "nccl"
        elif device.type == "cpu":
            backend = "gloo"
        else:
            raise UsageError(f"--device {device.type} cannot train in several processes; "
                             "use --device cpu or cuda")
        dist.init_process_group(backend, timeout=COLLECTIVE_TIMEOUT)
        return cls(cluster, device)

    def close(self) -> None:
        if dist.is_initialized():
            dist.destroy_process_group()

    def wrap(self, model: nn.Module) -> nn.Module:
        """DDP over the model; rank 0's initial weights are broadcast to every rank.

        Buffers are synced once here, not at every forward: the models' buffers are
        constants, and then an evaluation forward needs no collective, so a rank may skip
        an empty share.
        """
        ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(model, device_ids=ids, forward_sync_buffers=False)

    def check(self, windows: Windows, batch_size: int) -> None:
        """Every rank needs a window in every training step."""
        world = self.cluster.world_size
        if batch_size < world or len(windows) < world:
            raise UsageError(
                f"{world} processes need at least {world} windows per batch and in the "
                f"training part (--batch-size {batch_size}, {len(windows)} training windows); "
                "use a larger --batch-size or fewer processes")

    def bounds(self, n: int, batch_size: int) -> list[tuple[int, int]]:
        """[begin, end) of each batch in the epoch's order; a tail under W joins the last."""
        edges = [*range(0, n, batch_size), n]
        if len(edges) > 2 and edges[-1] - edges[-2] < self.cluster.world_size:
            del edges[-2]
        return list(itertools.pairwise(edges))

    def n_batches(self, windows: Windows, batch_size: int) -> int:
        return len(self.bounds(len(windows), batch_size))

    def batches(self, windows: Windows, batch_size: int,
                generator: torch.Generator | None = None) -> Iterator[ScaledBatch]:
        n, rank, world = len(windows), self.cluster.rank, self.cluster.world_size
        order = torch.arange(n) if generator is None else torch.randperm(n, generator=generator)
        for begin, end in self.bounds(n, batch_size):
            share = order[begin + rank : end : world]
            if len(share):  # only evaluation can leave a rank without windows
                x, y = windows.batch(share.to(windows.series.device))
                yield x, y, world * len(share) / (end - begin)

    def mean(self, total: Tensor, count: int) -> float:
        sums = torch.stack([total.to(self.device, torch.float64),
                            torch.tensor(float(count), dtype=torch.float64, device=self.device)])
        dist.all_reduce(sums)
        return float(sums[0]) / max(1.0, float(sums[1]))
