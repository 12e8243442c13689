/**
 * Make a name safe to print on a terminal: control characters (C0, DEL, C1)
 * become visible escapes, so a hostile server cannot move the cursor, retitle
 * the window or hide what happened (CVE-2019-6109).
 */
export function escapeForTerminal(text: string): string {
  let out = '';
  for (const ch of text) {
    const c = ch.codePointAt(0)!;
    if (c < 0x20 || c === 0x7f || (c >= 0x80 && c < 0xa0)) {
      if (ch === '\n') out += '\\n';
      else if (ch === '\r') out += '\\r';
      else if (ch === '\t') out += '\\t';
      else out += `\\x${c.toString(16).padStart(2, '0')}`;
    } else if (ch === '\\') {
      out += '\\\\';
    } else {
      out += ch;
    }
  }
  return out;
}

/**
 * One NDJSON line. JSON.stringify escapes C0 controls but leaves DEL and the
 * C1 controls raw (U+009B is a one-character CSI to many terminals), and
 * U+2028/U+2029, which break line-oriented readers: those are escaped too, so
 * `--json` output piped to a terminal is as inert as the rest of ferry's.
 */
export function toJsonLine(value: unknown): string {
  return JSON.stringify(value).replace(/[\u007f-\u009f\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
