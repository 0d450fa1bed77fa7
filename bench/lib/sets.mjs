// The wheel sets the cold-path benchmarks share (cold.mjs, layered.mjs), downloaded from
// the configured pip index without a resolution (as the issues state them).
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";

export const SETS = [
  { name: "data-science", requirements: ["numpy", "pandas", "pyarrow", "python-dateutil", "six", "tzdata"], code: "import numpy, pandas, pyarrow", needGiB: 3 },
  {
    name: "torch-cuda",
    optIn: true,
    // torch's own requirements that the index has, without a resolution (the mirror lacks
    // cuda-bindings, and triton is not imported by `import torch`): the set.
    requirements: [
      "torch==2.14.1", "nvidia-cublas", "nvidia-cuda-runtime", "nvidia-cufft", "nvidia-cufile", "nvidia-cuda-cupti", "nvidia-curand",
      "nvidia-cusolver", "nvidia-cusparse", "nvidia-nvjitlink", "nvidia-cuda-nvrtc", "nvidia-nvtx", "nvidia-cudnn-cu13",
      "nvidia-cusparselt-cu13", "nvidia-nccl-cu13", "nvidia-nvshmem-cu13",
      "filelock", "typing-extensions", "sympy", "mpmath", "networkx", "jinja2", "markupsafe", "fsspec", "setuptools",
    ],
    code: "import torch",
    needGiB: 25,
  },
];

/** Downloads `set`'s wheels into `dir`: `{ files }`, or `{ skipped }` saying what the index lacks. */
export function downloadSet(python, set, dir) {
  const dl = spawnSync(python, ["-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:", "-d", dir, ...set.requirements], { encoding: "utf8", env: { ...process.env, PIP_RETRIES: "0", PIP_TIMEOUT: "5" } });
  if (dl.status !== 0) return { skipped: `the configured index lacks part of the ${set.name} set (pip download: ${dl.stderr.trim().split("\n").pop()})` };
  return { files: fs.readdirSync(dir).filter((f) => f.endsWith(".whl")).sort().map((f) => path.join(dir, f)) };
}
