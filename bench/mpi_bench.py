"""The MPI side of bench/compare.sh: the same collectives as `burst bench`, with mpi4py
over Open MPI on this machine, timed the same way (a barrier, then the operation), and
checked before a figure is printed.

    mpirun --allow-run-as-root --oversubscribe -np 8 /usr/bin/python3 bench/mpi_bench.py allreduce 8388608 10

prints one JSON line: benchmark, ranks, payload_size, p50/min/max seconds over the
repeats (the slowest rank's time per repeat).
"""
import json
import sys
import time

import numpy as np
from mpi4py import MPI


def pattern(n, r):
    i = np.arange(n, dtype=np.uint32)
    return ((i ^ (i >> 8) ^ np.uint32(r * 37 + 11)) & 0xFF).astype(np.uint8)


def main():
    bench, size, repeat = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    comm = MPI.COMM_WORLD
    r, n = comm.Get_rank(), comm.Get_size()
    mine = pattern(size, r)
    times = []
    for rep in range(-1, repeat):
        comm.Barrier()
        start = time.perf_counter()
        if bench == "pair":
            half = n // 2
            if r < half:
                comm.Send(mine, dest=r + half)
            else:
                got = np.empty(size, np.uint8)
                comm.Recv(got, source=r - half)
        elif bench == "broadcast":
            got = mine if r == 0 else np.empty(size, np.uint8)
            comm.Bcast(got, root=0)
        elif bench == "scatter":
            send = np.concatenate([pattern(size, d) for d in range(n)]) if r == 0 else None
            got = np.empty(size, np.uint8)
            comm.Scatter(send, got, root=0)
        elif bench == "gather":
            got = np.empty(size * n, np.uint8) if r == 0 else None
            comm.Gather(mine, got, root=0)
        elif bench == "allgather":
            got = np.empty(size * n, np.uint8)
            comm.Allgather(mine, got)
        elif bench == "all-to-all":
            part = size // n
            send = np.concatenate([pattern(part, r * n + d) for d in range(n)])
            got = np.empty(part * n, np.uint8)
            comm.Alltoall(send, got)
        elif bench in ("reduce", "allreduce"):
            v = np.full(size // 8, float(r + 1))
            got = np.empty_like(v)
            if bench == "reduce":
                comm.Reduce(v, got, op=MPI.SUM, root=0)
            else:
                comm.Allreduce(v, got, op=MPI.SUM)
        elif bench == "barrier":
            comm.Barrier()
        else:
            raise SystemExit("unknown benchmark " + bench)
        elapsed = time.perf_counter() - start
        check(bench, r, n, size, locals().get("got"))
        slowest = comm.allreduce(elapsed, op=MPI.MAX)
        if rep >= 0:
            times.append(slowest)
    if r == 0:
        times.sort()
        median = times[(len(times) + 1) // 2 - 1]  # the nearest rank, as burst bench reports
        print(json.dumps({"benchmark": bench, "ranks": n, "payload_size": size,
                          "p50": median, "min": times[0], "max": times[-1]}))


def check(bench, r, n, size, got):
    if bench == "pair" and r >= n // 2:
        ok = np.array_equal(got, pattern(size, r - n // 2))
    elif bench == "broadcast":
        ok = np.array_equal(got, pattern(size, 0))
    elif bench == "scatter":
        ok = np.array_equal(got, pattern(size, r))
    elif bench in ("gather", "allgather") and got is not None:
        ok = all(np.array_equal(got[s * size:(s + 1) * size], pattern(size, s)) for s in range(n))
    elif bench == "all-to-all":
        part = size // n
        ok = all(np.array_equal(got[s * part:(s + 1) * part], pattern(part, s * n + r)) for s in range(n))
    elif bench == "allreduce" or (bench == "reduce" and r == 0):
        ok = bool(np.all(got == n * (n + 1) / 2))
    else:
        ok = True
    if not ok:
        raise SystemExit(f"{bench}: rank {r} received wrong data")


if __name__ == "__main__":
    main()
