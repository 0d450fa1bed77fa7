import fs from "node:fs";
import path from "node:path";
import { run, mapLimited, type RunResult } from "./run";

// Command lines for the differential interpreter tests: each must give the same stdout,
// stderr and exit status through plain python and through a PEX without an entry point
// (in zipapp and in venv mode).

export const SHOW = "import sys; print(sys.argv, repr(sys.path[0]), __name__, sorted(k for k in globals() if k.startswith('__')))";

export const CASES: { name: string; args: string[]; input?: string; compare?: "all" | "status+stdout" }[] = [
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

/** Writes the scripts, modules and packages the CASES use into `work`. */
export function writeInterpreterWorkdir(work: string): void {
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
}

/** Runs every case through `python` and through `python pex`; returns the mismatches' views. */
export async function differential(
  python: string,
  pex: string,
  work: string,
  env: NodeJS.ProcessEnv,
  normalise: (r: RunResult) => RunResult = (r) => r,
): Promise<{ expected: unknown[]; actual: unknown[] }> {
  const results = await mapLimited(CASES, 2, async (c) => {
    const plain = await run(python, c.args, { cwd: work, env, ...(c.input !== undefined ? { input: c.input } : {}) });
    const viaPex = normalise(await run(python, [pex, ...c.args], { cwd: work, env, ...(c.input !== undefined ? { input: c.input } : {}) }));
    return { c, plain, viaPex };
  });
  const view = (c: (typeof CASES)[number], r: RunResult) => ({ case: c.name, ...(c.compare === "status+stdout" ? { status: r.status, signal: r.signal, stdout: r.stdout } : r) });
  if (process.env.CP_DEBUG) for (const { c, plain, viaPex } of results) if (JSON.stringify(view(c, plain)) !== JSON.stringify(view(c, viaPex))) console.log(c.name, JSON.stringify(plain), "\n  PEX:", JSON.stringify(viaPex));
  return { expected: results.map(({ c, plain }) => view(c, plain)), actual: results.map(({ c, viaPex }) => view(c, viaPex)) };
}

/**
 * A python program that drives a REPL on a pty like a person (argv: the command to run):
 * waits for each prompt before typing (a fixed sleep races the interpreter's start on a
 * loaded machine) and gives up after a deadline instead of hanging, killing the child and
 * printing what it saw. Prints the session and `EXIT <status>`.
 */
export const REPL_DRIVER = `
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
