/**
 * How the SSH layer talks to the person at the keyboard, without knowing
 * about terminals: the command layer supplies an implementation.
 */
export interface Prompter {
  /** False without a TTY (or in BatchMode): never ask then. */
  readonly interactive: boolean;
  /** Ask a question; `secret` turns echo off. Rejects if the user gives up (Ctrl-C, EOF). */
  ask(question: string, opts?: { secret?: boolean }): Promise<string>;
  /** Multi-line notices OpenSSH prints too (host key warnings). */
  warn(text: string): void;
  /** -v output. */
  debug(text: string): void;
}

export const silentPrompter: Prompter = {
  interactive: false,
  ask: () => Promise.reject(new Error('no terminal to ask on')),
  warn: () => undefined,
  debug: () => undefined,
};
