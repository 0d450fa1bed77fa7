/**
 * The text after a command's options in `--help`: notes, then examples in one style. An
 * example is a command (printed after `$ `), a `# comment` line, or a continuation line
 * starting with spaces (after a trailing `\`). Every line must fit 100 columns (a test
 * checks); commander wraps the option descriptions to the terminal.
 */
export function helpText(options: { notes?: string; examples: string[] }): string {
  const lines = options.examples.map((e) => (e.startsWith("#") ? `  ${e}` : e.startsWith(" ") ? `  ${e}` : `  $ ${e}`));
  return `${options.notes ? `\n${wrap(options.notes)}\n` : ""}\nExamples:\n${lines.join("\n")}\n`;
}

/** Notes are prose: paragraphs (split at blank lines) re-wrapped to NOTES_WIDTH columns. */
function wrap(text: string): string {
  return text
    .trim()
    .split(/\n\s*\n/)
    .map((paragraph) => {
      const out: string[] = [];
      let line = "";
      for (const word of paragraph.split(/\s+/)) {
        if (line && line.length + 1 + word.length > NOTES_WIDTH) {
          out.push(line);
          line = word;
        } else line = line ? `${line} ${word}` : word;
      }
      if (line) out.push(line);
      return out.join("\n");
    })
    .join("\n\n");
}

/** Within the 100 columns help keeps to off a terminal, and as wide as the options' text. */
const NOTES_WIDTH = 90;

/** The output rule, quoted in the --help of every command that writes a file and in the README. */
export const OUTPUT_RULE = "An existing output is replaced only with --force (atomically: until the new one is complete, the old one stays).";
