import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { pyenvPythons } from "@cluster-pack/wheel/test-kit/wheels";
import { buildPex } from "./index";
import { cleanEnv, mapLimited, run, type RunResult } from "./test-kit/run";

// Differential tests: the same command line through plain python and through a PEX
// with no entry point must give the same stdout, stderr and exit status.

jest.setTimeout(300_000);

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cp-pex-interp-"));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const work = path.join(tmp, "work");
const pex = path.join(tmp, "env.pex");
const env = cleanEnv({ PEX_ROOT: path.join(tmp, "root") });

const SHOW = "import sys; print(sys.argv, repr(sys.path[0]), __name__, sorted(k for k in globals() if k.startswith('__')))";

const CASES: { name: string; args: string[]; input?: string; compare?: "all" | "status+stdout" }[] = [
  { name: "-c with args", args: ["-c", SHOW, "a", "b"] },
  { name: "-c attached", args: ["-c" + "print('attached')"] },
  { name: "-m module", args: ["-m", "mod", "x", "-c"] },
  { name: "-m package", args: ["-m", "pkg", "p"] },
  { name: "script", args: ["script.py", "y", "-m"] },
  { name: "script in a subdirectory", args: ["sub/inner.py"] },
  { name: "directory with __main__.py", args: ["pkgdir", "d"] },
  { name: "- reads stdin", args: ["-", "z"], input: `${SHOW}\n` },
  { name: "piped stdin", args: [], input: `${SHOW}\nimport sys; print(sys.stdin.read())\n` },
  { name: "stdin for the program", args: ["-c", "import sys; print(repr(sys.stdin.read()))"], input: "line1\nline2\n" },
  { name: "-u -B -O", args: ["-u", "-B", "-O", "-c", "import sys; print(sys.flags.optimize, sys.dont_write_bytecode, __debug__, sys.stdout.write_through)"] },
  { name: "-OO clustered", args: ["-OOB", "-c", "import sys; print(sys.flags.optimize, sys.dont_write_bytecode)"] },
  { name: "separated -W ignore", args: ["-W", "ignore", "-c", "import sys, warnings; print(sys.warnoptions); warnings.warn('hidden')"] },
  { name: "attached -Werror", args: ["-Werror", "-c", "import warnings; warnings.warn('boom')"] },
  { name: "warning text", args: ["-c", "import warnings; warnings.warn('visible')"] },
  { name: "separated -X utf8", args: ["-X", "utf8", "-c", "import sys; print(sys._xoptions, sys.flags.utf8_mode)"] },
  { name: "-X dev", args: ["-X", "dev", "-c", "import sys; print(sys.flags.dev_mode)"] },
  { name: "-E -s", args: ["-E", "-s", "-c", "import sys; print(sys.flags.ignore_environment, sys.flags.no_user_site)"] },
  { name: "-I", args: ["-I", "-c", "import sys; print(sys.flags.isolated, repr(sys.path[0]))"] },
  { name: "-S", args: ["-S", "-c", "import sys; print('site' in sys.modules, sys.flags.no_site)"] },
  { name: "-q", args: ["-q", "-c", "print('quiet')"] },
  { name: "-bb", args: ["-bb", "-c", "print(b'' == '')"] },
  { name: "-- then script", args: ["--", "script.py", "-u"] },
  { name: "-V", args: ["-V"] },
  { name: "--version", args: ["--version"] },
  { name: "-i with piped stdin", args: ["-i", "-c", "x = 21"], input: "print(x * 2)\n", compare: "status+stdout" },
  { name: "traceback from -c", args: ["-c", "def f():\n    1/0\nf()"] },
  { name: "syntax error", args: ["-c", "1 +"] },
  { name: "traceback from a script", args: ["raises.py"] },
  { name: "traceback from -m", args: ["-m", "raises"] },
  { name: "chained exception", args: ["-c", "try:\n    1/0\nexcept Exception as e:\n    raise ValueError('v') from e"] },
  { name: "SystemExit code", args: ["-c", "raise SystemExit(5)"] },
  { name: "sys.exit message", args: ["-c", "import sys; sys.exit('bye')"] },
  { name: "missing module", args: ["-m", "no_such_module_xyz"] },
  { name: "missing script", args: ["no_such_script.py"] },
  { name: "-c without argument", args: ["-c"] },
  { name: "unknown option", args: ["-Z"], compare: "status+stdout" },
  { name: "KeyboardInterrupt", args: ["-c", "raise KeyboardInterrupt"] },
  { name: "-x skips the first line", args: ["-x", "xscript.py", "a"] },
  { name: "-x with a re-exec option", args: ["-u", "-x", "xscript.py"] },
  { name: "-x clustered", args: ["-xB", "xscript.py"] },
  { name: "-x keeps line numbers in tracebacks", args: ["-x", "xraises.py"] },
  { name: "-x leaves -c alone", args: ["-x", "-c", "print('c')"] },
  { name: "-x leaves stdin alone", args: ["-x", "-"], input: "print('first')\nprint('second')\n" },
  { name: "without -x the first line runs", args: ["xscript.py"] },
  { name: "atexit and threads", args: ["-c", "import atexit, threading; atexit.register(print, 'exit'); threading.Thread(target=print, args=('thread',)).start()"] },
];

const pythons = pyenvPythons();

beforeAll(async () => {
  fs.mkdirSync(path.join(work, "pkg"), { recursive: true });
  fs.mkdirSync(path.join(work, "pkgdir"), { recursive: true });
  fs.mkdirSync(path.join(work, "sub"), { recursive: true });
  fs.writeFileSync(path.join(work, "mod.py"), `${SHOW}\nprint(__file__ == sys.argv[0])\n`);
  fs.writeFileSync(path.join(work, "pkg", "__init__.py"), "");
  fs.writeFileSync(path.join(work, "pkg", "__main__.py"), `${SHOW}\nprint(__package__, __spec__.name)\n`);
  fs.writeFileSync(path.join(work, "pkgdir", "__main__.py"), `${SHOW}\n`);
  fs.writeFileSync(path.join(work, "script.py"), `${SHOW}\nprint(__file__, __cached__)\n`);
  fs.writeFileSync(path.join(work, "sub", "inner.py"), `${SHOW}\n`);
  fs.writeFileSync(path.join(work, "xscript.py"), `not python at all!\n${SHOW}\nprint(__file__, sys.flags.dont_write_bytecode)\n`);
  fs.writeFileSync(path.join(work, "xraises.py"), "@echo off & python -x %0 & exit\n\ndef g():\n    raise RuntimeError('line 4')\n\ng()\n");
  fs.writeFileSync(path.join(work, "raises.py"), "def g():\n    raise RuntimeError('from file')\n\ng()\n");
  await buildPex(pex, {});
});

const matrix = pythons.length ? pythons : [{ version: "python3", python: "python3" }];

describe.each(matrix)("a PEX behaves like python $version", ({ python }) => {
  it("gives the same output, errors and exit status for every command line", async () => {
    const results = await mapLimited(CASES, 2, async (c) => {
      const plain = await run(python, c.args, { cwd: work, env, ...(c.input !== undefined ? { input: c.input } : {}) });
      const viaPex = await run(python, [pex, ...c.args], { cwd: work, env, ...(c.input !== undefined ? { input: c.input } : {}) });
      return { c, plain, viaPex };
    });
    const bad = results.filter(({ c, plain, viaPex }) => JSON.stringify(c.compare === "status+stdout" ? [plain.status, plain.stdout] : plain) !== JSON.stringify(c.compare === "status+stdout" ? [viaPex.status, viaPex.stdout] : viaPex));
    if (process.env.CP_DEBUG) for (const b of bad) console.log(b.c.name, JSON.stringify(b.plain), "\n  PEX:", JSON.stringify(b.viaPex));
    for (const { c, plain, viaPex } of results) {
      const view = (r: RunResult) => (c.compare === "status+stdout" ? { status: r.status, signal: r.signal, stdout: r.stdout } : r);
      expect({ case: c.name, ...view(viaPex) }).toEqual({ case: c.name, ...view(plain) });
    }
  });

  it("-X importtime (separated) reaches the interpreter", async () => {
    const r = await run(python, [pex, "-X", "importtime", "-c", "import json"], { cwd: work, env });
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(/import time:.*\| json$/m);
  });

  it("starts the REPL on a terminal like python does", async () => {
    // Drives the REPL like a person: waits for each prompt before typing (a fixed sleep races
    // the interpreter's start on a loaded machine), and gives up after a deadline instead of
    // hanging, killing the child and printing what it saw.
    const script = `
import os, pty, select, signal, sys, time
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:])
out = b""
deadline = time.monotonic() + 90

def read_until(marker, since=0):
    global out
    while marker not in out[since:]:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        ready, _, _ = select.select([fd], [], [], min(left, 1.0))
        if not ready:
            continue
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            return False
        if not chunk:
            return False
        out += chunk
    return True

ok = read_until(b">>> ")
if ok:
    os.write(fd, b"import sys; print('R', sys.argv, 6 * 7)\\r")
    ok = read_until(b"R [")
    ok = ok and read_until(b">>> ", out.rindex(b"R ["))
    if ok:
        os.write(fd, b"raise SystemExit(0)\\r")
        read_until(b"<never printed>")  # reads to EOF
if not ok and time.monotonic() >= deadline:
    os.kill(pid, signal.SIGKILL)
_, status = os.waitpid(pid, 0)
sys.stdout.write(out.decode("utf-8", "replace"))
sys.stdout.write("\\nEXIT %d\\n" % (os.WEXITSTATUS(status) if os.WIFEXITED(status) else -1))
`;
    const plain = await run(python, ["-c", script, python], { cwd: work, env });
    const viaPex = await run(python, ["-c", script, python, pex], { cwd: work, env });
    for (const r of [plain, viaPex]) {
      expect(r.stdout).toContain("R [''] 42");
      expect(r.stdout).toContain('Type "help", "copyright", "credits" or "license" for more information.');
      expect(r.stdout).toContain("EXIT 0");
    }
  });
});
