import { execFile } from "node:child_process";
import { promises as fsp } from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { pipIndexUnavailable, pythonInterpreter } from "@cluster-pack/io/test-kit";
import { withBuildLock } from "../lock";

const run = promisify(execFile);

/**
 * The interpreter the fixtures use: the newest pyenv 3.11 of the shared finder (the
 * mirror's wheels are cp311); "" when there is none, which `venvFixtureUnavailable` reports.
 */
export const PYTHON311 = pythonInterpreter("3.11")?.python ?? "";

export interface VenvFixture {
  root: string;
  venv: string;
  python: string;
  /** The editable project (src/ layout): package `myedit`, dist `my-edit`. */
  editableProject: string;
  cleanup(): Promise<void>;
}

/**
 * Why a test cannot build the venv fixture, or undefined when it can: it needs the 3.11
 * interpreter and a pip with a configured index (the local wheel mirror).
 */
export async function venvFixtureUnavailable(): Promise<string | undefined> {
  if (!PYTHON311) return "no pyenv CPython 3.11 found (the mirror's wheels are cp311)";
  return pipIndexUnavailable(PYTHON311);
}

/**
 * A real `python -m venv` with six + python-dateutil installed by pip from the configured
 * mirror, and one editable package in src/ layout installed with `pip install -e`
 * (PEP 660 through setuptools from the mirror).
 */
export async function createVenvFixture(options: { packages?: string[]; editable?: boolean } = {}): Promise<VenvFixture> {
  const root = await fsp.mkdtemp(path.join(os.tmpdir(), "cp-venv-"));
  return buildFixture(root, options);
}

/**
 * The default fixture, built once per machine and shared by every test file and run
 * (read-only use): a venv's paths are absolute, so it is built in place under a lock,
 * and a `ready` marker written last says it is complete. cleanup() leaves it.
 */
export async function sharedVenvFixture(): Promise<VenvFixture> {
  const root = path.join(os.tmpdir(), `cluster-pack-test-venv-${FIXTURE_VERSION}`);
  return withBuildLock(path.join(os.tmpdir(), "cluster-pack-test-locks"), `venv-fixture-${FIXTURE_VERSION}`, { staleMs: 120_000 }, async () => {
    const ready = path.join(root, "ready");
    if (!(await fsp.access(ready).then(() => true, () => false))) {
      await fsp.rm(root, { recursive: true, force: true });
      await fsp.mkdir(root, { recursive: true });
      await buildFixture(root, {});
      await fsp.writeFile(ready, "");
    }
    const fx = fixtureAt(root);
    return { ...fx, cleanup: async () => {} };
  });
}

/** Bump when the fixture's content changes, so machines rebuild it. */
const FIXTURE_VERSION = 1;

function fixtureAt(root: string): Omit<VenvFixture, "cleanup"> {
  const venv = path.join(root, "project-venv");
  return { root, venv, python: path.join(venv, "bin", "python"), editableProject: path.join(root, "my-edit") };
}

async function buildFixture(root: string, options: { packages?: string[]; editable?: boolean }): Promise<VenvFixture> {
  const venv = path.join(root, "project-venv");
  await run(PYTHON311, ["-m", "venv", venv], { timeout: 120_000 });
  const python = path.join(venv, "bin", "python");
  // pypi.org is unreachable here: name the local mirror as the index so pip does not retry it.
  const pipArgs = ["-m", "pip", "install", "-q", "--index-url", "file:///opt/pypi/simple", "--retries", "0", "--timeout", "5"];
  await run(python, [...pipArgs, ...(options.packages ?? ["six", "python-dateutil"])], { timeout: 300_000 });
  const editableProject = path.join(root, "my-edit");
  if (options.editable !== false) {
    await fsp.mkdir(path.join(editableProject, "src", "myedit"), { recursive: true });
    await fsp.writeFile(
      path.join(editableProject, "pyproject.toml"),
      '[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n\n[project]\nname = "my-edit"\nversion = "0.1.0"\n',
    );
    await fsp.writeFile(path.join(editableProject, "src", "myedit", "__init__.py"), "VALUE = 42\n");
    await fsp.writeFile(path.join(editableProject, "src", "myedit", "job.py"), JOB_PY);
    await run(python, [...pipArgs, "-e", editableProject], { timeout: 300_000 });
  }
  return {
    root,
    venv,
    python,
    editableProject,
    cleanup: () => fsp.rm(root, { recursive: true, force: true }),
  };
}

/** A job module that imports the editable package and installed dependencies and reports where they came from. */
const JOB_PY = `import json, sys
import dateutil, six
import myedit
print(json.dumps({"value": myedit.VALUE, "myedit": myedit.__file__, "dateutil": dateutil.__version__, "six": six.__version__, "argv": sys.argv[1:]}))
`;
