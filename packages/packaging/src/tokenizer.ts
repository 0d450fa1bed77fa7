/**
 * The PEP 508 cursor shared by the marker and requirement parsers (packaging's
 * `_tokenizer.py`): sticky-regex matching at a position, and errors that name the column.
 * Each parser passes the error class it reports (InvalidMarkerError, InvalidRequirementError).
 */
export class Cursor {
  pos = 0;
  constructor(
    readonly src: string,
    private readonly error: new (message: string) => Error,
  ) {}

  ws(): void {
    while (this.pos < this.src.length && (this.src[this.pos] === " " || this.src[this.pos] === "\t")) this.pos++;
  }
  peek(lit: string): boolean {
    return this.src.startsWith(lit, this.pos);
  }
  atEnd(): boolean {
    return this.pos >= this.src.length;
  }
  lookingAt(re: RegExp): boolean {
    re.lastIndex = this.pos;
    return re.test(this.src);
  }
  match(re: RegExp): string | null {
    re.lastIndex = this.pos;
    const m = re.exec(this.src);
    if (!m) return null;
    this.pos += m[0].length;
    return m[0];
  }
  expect(re: RegExp, what: string): string {
    const m = this.match(re);
    if (m === null) this.fail(`Expected ${what}`);
    return m;
  }
  expectLiteral(lit: string, what: string): void {
    if (!this.peek(lit)) this.fail(`Expected ${what}`);
    this.pos += lit.length;
  }
  expectEnd(what: string): void {
    if (!this.atEnd()) this.fail(`Expected ${what}`);
  }
  fail(message: string): never {
    throw new this.error(`${message} at column ${this.pos + 1} of ${JSON.stringify(this.src)}`);
  }
}
