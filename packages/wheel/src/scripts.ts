import { InvalidInputError } from "@cluster-pack/errors";
import { parseEntryPointValue } from "./metadata";

/**
 * The text of a console/gui script launcher for `module:func`, as pip and installer
 * write it: strip a `-script.py`/`.exe` suffix from argv[0], call the function, exit with
 * its result. `interpreter` becomes the shebang (`python` is the conventional
 * placeholder that relocating tools rewrite; PEX chroots use it).
 */
export function scriptLauncher(entryPoint: string, interpreter: string, source = "entry point"): string {
  const target = parseEntryPointValue(entryPoint, source);
  if (!target.attr) throw new InvalidInputError(`${source}: console script "${entryPoint}" must name a function (module:function).`);
  const top = target.attr.split(".")[0]!;
  return [
    `#!${shebangFor(interpreter)}`,
    "# -*- coding: utf-8 -*-",
    "import re",
    "import sys",
    `from ${target.module} import ${top}`,
    "if __name__ == '__main__':",
    "    sys.argv[0] = re.sub(r'(-script\\.pyw|\\.exe)?$', '', sys.argv[0])",
    `    sys.exit(${target.attr}())`,
    "",
  ].join("\n");
}

// A shebang line is limited (127 bytes on Linux) and cannot hold spaces; fall back to the
// `/bin/sh` trampoline pip uses for such interpreters.
function shebangFor(interpreter: string): string {
  if (interpreter.length <= 127 && !/\s/.test(interpreter)) return interpreter;
  return `/bin/sh\n'''exec' '${interpreter.replace(/'/g, "'\\''")}' "$0" "$@"\n' '''`;
}
