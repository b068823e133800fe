import { StringDecoder } from 'node:string_decoder';

// A program that never prints a newline must not grow a buffer without bound.
const DEFAULT_MAX_LINE_LENGTH = 16 * 1024;

/**
 * Cuts a byte stream into lines: chunks may end mid-line or mid-character, CRLF counts as one
 * line end, and what remains at the end is the last line.
 */
export class LineSplitter {
  private readonly decoder = new StringDecoder('utf8');
  private pending = '';

  constructor(private readonly maxLineLength: number = DEFAULT_MAX_LINE_LENGTH) {}

  push(chunk: Buffer): string[] {
    const pieces = (this.pending + this.decoder.write(chunk)).split('\n');
    this.pending = pieces.pop() ?? '';
    const lines = pieces.map(withoutCarriageReturn);
    while (this.pending.length > this.maxLineLength) {
      lines.push(this.pending.slice(0, this.maxLineLength));
      this.pending = this.pending.slice(this.maxLineLength);
    }
    return lines;
  }

  end(): string[] {
    const rest = this.pending + this.decoder.end();
    this.pending = '';
    return rest === '' ? [] : [withoutCarriageReturn(rest)];
  }
}

function withoutCarriageReturn(line: string): string {
  return line.endsWith('\r') ? line.slice(0, -1) : line;
}
