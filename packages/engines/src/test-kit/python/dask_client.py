"""Client side of the Dask end-to-end test (runs in Debian's python3, not the environment).

Usage: dask_client.py SCHEDULER_ADDRESS N_WORKERS
Prints one JSON line: what every worker reports and the result of a small map/reduce.
"""
import json
import sys

from distributed import Client


def probe():
    import cp_engines_marker  # only the shipped environment has it

    return cp_engines_marker.report()


def square(x):
    import cp_engines_marker  # noqa: F401  (fails outside the shipped environment)

    return x * x


def main(address, n_workers):
    with Client(address, timeout=60) as client:
        client.wait_for_workers(n_workers, timeout=90)
        per_worker = client.run(probe)
        futures = client.map(square, range(20))
        total = client.submit(sum, futures).result(timeout=60)
        who = client.who_has(futures)
        used = sorted({w for ws in who.values() for w in ws})
        print(json.dumps({"workers": per_worker, "total": total, "task": client.submit(probe, pure=False).result(timeout=60), "workers_used": used}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
