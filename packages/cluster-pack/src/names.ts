/** PEP 503 normalised project name: runs of `-`, `_`, `.` become one `-`, lowercased. */
export function normalizeName(name: string): string {
  return name.replace(/[-_.]+/g, "-").toLowerCase();
}
