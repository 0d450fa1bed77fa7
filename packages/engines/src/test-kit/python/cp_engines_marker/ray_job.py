"""Ray driver of the end-to-end test: runs tasks on each node with the generated runtime_env.

Usage: python -m cp_engines_marker.ray_job ADDRESS JOB_RUNTIME_ENV_JSON TASK_RUNTIME_ENV_JSON
Prints one JSON line: the report of a task on each node under the job's runtime_env, and of
a task on node0 under TASK_RUNTIME_ENV (whose py_executable points at node1's copy).
"""
import json
import sys

import ray


@ray.remote
def probe(x):
    import os

    from cp_engines_marker import report

    out = report()
    out["square"] = x * x
    out["env_var"] = os.environ.get("CP_ENGINES_RAY")
    out["node_id"] = ray.get_runtime_context().get_node_id()
    out["ray_file"] = os.path.realpath(ray.__file__)
    return out


def main(address, job_env, task_env):
    # Keep every connection on loopback: without it Ray picks the host's routable address.
    ray.init(address=address, runtime_env=job_env, log_to_driver=False, _node_ip_address="127.0.0.1")
    try:
        per_node = {
            name: ray.get(probe.options(resources={name: 0.5}).remote(i + 2), timeout=120)
            for i, name in enumerate(["node0", "node1"])
        }
        override = ray.get(probe.options(resources={"node0": 0.5}, runtime_env=task_env).remote(5), timeout=120)
        print(json.dumps({"per_node": per_node, "override": override, "ray": ray.__version__}), flush=True)
    finally:
        ray.shutdown()


if __name__ == "__main__":
    main(sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3]))
