import { ClusterPackError, InvalidInputError } from "@cluster-pack/errors";
import { isNoSpaceError } from "@cluster-pack/io";

/** The error for a file that could not be read while packing: vanished, or unreadable. */
export function sourceError(file: string, name: string, cause: unknown): ClusterPackError {
  const code = (cause as NodeJS.ErrnoException)?.code;
  if (code === "ENOENT") {
    return new InvalidInputError(`${file} (${name}) vanished while the environment was being packed`, {
      cause,
      code: "ERR_FILE_VANISHED",
      hint: "re-run when nothing is modifying the environment.",
    });
  }
  // A full disk surfaces through the copy of a file too: it is the output's failure, not the source's.
  if (isNoSpaceError(cause)) return new ClusterPackError("ERR_NO_SPACE", `No space left on the device while copying ${name}`, { cause });
  return new ClusterPackError("ERR_READ", `cannot read ${file} (${name}): ${(cause as Error)?.message}`, { cause });
}

/** The error for a file whose size changed between the scan and its packing. */
export function changedError(file: string, name: string): InvalidInputError {
  return new InvalidInputError(`${file} (${name}) changed size while the environment was being packed`, {
    code: "ERR_FILE_CHANGED",
    hint: "re-run when nothing is modifying the environment.",
  });
}
