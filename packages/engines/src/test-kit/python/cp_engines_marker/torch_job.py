"""A 3-rank gloo job: all_reduce(rank + 1) with the env:// rendezvous variables."""
import json
import os
import sys

import torch
import torch.distributed as dist

from cp_engines_marker import report


def main():
    dist.init_process_group("gloo", init_method="env://")
    rank, world = dist.get_rank(), dist.get_world_size()
    t = torch.tensor([float(rank + 1)])
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    gathered = [None] * world
    dist.all_gather_object(gathered, os.environ.get("LOCAL_RANK"))
    dist.barrier()
    dist.destroy_process_group()
    out = report()
    out.update({"rank": rank, "world_size": world, "sum": t.item(), "local_ranks": gathered, "torch": torch.__version__})
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    sys.exit(main())
