"""Data-parallel scaling of LeNet-5 training on 1 and 2 MPI processes, 1 thread each.

    python benchmarks/distributed_scaling.py [--steps 30] [--batch 64] [--ranks 1,2]

Launches `mpiexec -n N python benchmarks/distributed_scaling.py --worker ...` for each N and
prints one table. Each worker trains pyconv's LeNet-5 (wrapped in DistributedDataParallel)
with Adam on random 28x28 images for `--steps` timed steps after 3 warm-up steps, with the
global batch `--batch` split over the ranks (strong scaling: the work per step is fixed).
Before timing, it checks that the replicas' parameters are equal after the warm-up.

Reported per N: images/s (global batch x steps / wall time of the timed steps, the slowest
rank's), ms per step, the gradient allreduce's ms per step and bytes per step (DDP's stats:
pack, MPI Iallreduce, wait, unpack), and the scaling efficiency (images/s at N) / (N x images/s
at 1). The ring-allreduce model for comparison: each rank sends and receives
2 (N - 1) / N x bytes, so at B bytes/s of bandwidth an allreduce takes 2 (N - 1) / N x bytes / B
plus a latency term per step of the ring.
"""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np


def worker(steps, batch):
    import pyconv
    import pyconv.distributed as dist
    from pyconv import optim
    from pyconv.models import get_model
    from pyconv.nn import functional as F

    world = dist.init()
    rank = dist.get_rank()
    pyconv.set_num_threads(1)
    local = batch // world
    pyconv.manual_seed(0)
    model = dist.DistributedDataParallel(get_model("lenet5", num_classes=10, in_channels=1))
    opt = optim.Adam(model.parameters(), lr=1e-3)
    rng = np.random.default_rng(rank)
    x = pyconv.tensor(rng.normal(size=(local, 1, 28, 28)).astype(np.float32))
    y = pyconv.tensor(rng.integers(0, 10, local))

    def step():
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()

    for _ in range(3):
        step()
    flat = np.concatenate([p.numpy().ravel() for p in model.parameters()])
    replicas = dist.all_gather_array(flat)
    assert all(np.array_equal(replicas[0], r) for r in replicas), "replicas differ after the warm-up"
    before = dict(model.stats)
    dist.barrier()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    seconds = np.array([time.perf_counter() - start])
    dist.all_reduce(seconds, "max")
    syncs = model.stats["syncs"] - before["syncs"]
    allreduce = (model.stats["allreduce_seconds"] - before["allreduce_seconds"]) / max(1, syncs)
    nbytes = (model.stats["allreduce_bytes"] - before["allreduce_bytes"]) / max(1, syncs)
    if rank == 0:
        print("RESULT " + json.dumps({"ranks": world, "batch": batch, "steps": steps,
                                      "images_per_s": batch * steps / seconds[0],
                                      "ms_per_step": 1e3 * seconds[0] / steps,
                                      "allreduce_ms_per_step": 1e3 * allreduce, "allreduce_bytes": nbytes,
                                      "parameters": model.num_parameters()}), flush=True)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--batch", type=int, default=64, help="global batch (default 64)")
    p.add_argument("--ranks", default="1,2", help="process counts to run (default 1,2)")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        return worker(args.steps, args.batch)
    mpiexec = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    if not os.access(mpiexec, os.X_OK):
        mpiexec = "mpiexec"
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    rows = []
    for n in [int(v) for v in args.ranks.split(",")]:
        command = [mpiexec, "-n", str(n), sys.executable, os.path.abspath(__file__), "--worker",
                   "--steps", str(args.steps), "--batch", str(args.batch)]
        done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
        line = next((l for l in done.stdout.splitlines() if l.startswith("RESULT ")), None)
        if done.returncode or line is None:
            raise SystemExit(f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}")
        rows.append(json.loads(line[len("RESULT "):]))
    base = rows[0]["images_per_s"] / rows[0]["ranks"]
    print(f"LeNet-5 ({rows[0]['parameters']:,} parameters), Adam, global batch {args.batch}, "
          f"{args.steps} timed steps, 1 thread per rank")
    print(f"{'ranks':>5} {'images/s':>9} {'ms/step':>8} {'allreduce ms/step':>18} {'bytes/step':>11} "
          f"{'efficiency':>10}")
    for r in rows:
        print(f"{r['ranks']:>5} {r['images_per_s']:>9.0f} {r['ms_per_step']:>8.1f} "
              f"{r['allreduce_ms_per_step']:>18.2f} {r['allreduce_bytes']:>11,.0f} "
              f"{r['images_per_s'] / (r['ranks'] * base):>10.0%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
