/**
 * SSH_ASKPASS, as OpenSSH's readpass.c uses it: the program gets the prompt
 * as its only argument and prints the answer on stdout. The answer travels
 * only through that pipe; it is never logged or put in argv.
 */
import { spawn } from 'node:child_process';
import type { Prompter } from './prompter.js';

/**
 * The askpass program to use instead of the terminal, if any:
 * SSH_ASKPASS_REQUIRE=force always, =prefer when a display is set, =never
 * not; unset, only when there is no terminal and a display is set.
 */
export function askpassProgram(env: NodeJS.ProcessEnv, haveTty: boolean): string | undefined {
  const program = env.SSH_ASKPASS;
  if (!program) return undefined;
  const mode = (env.SSH_ASKPASS_REQUIRE ?? '').toLowerCase();
  const display = Boolean(env.DISPLAY || env.WAYLAND_DISPLAY);
  if (mode === 'never') return undefined;
  if (mode === 'force') return program;
  if (mode === 'prefer') return display ? program : undefined;
  return !haveTty && display ? program : undefined;
}

const MAX_ANSWER = 64 * 1024;

/** Run the askpass program once; rejects (without the answer in the message) unless it exits 0. */
export function runAskpass(program: string, prompt: string, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(program, [prompt], { stdio: ['ignore', 'pipe', 'ignore'], env });
    const chunks: Buffer[] = [];
    let size = 0;
    child.stdout.on('data', (d: Buffer) => {
      size += d.length;
      if (size <= MAX_ANSWER) chunks.push(d);
    });
    child.once('error', (err: NodeJS.ErrnoException) => reject(new Error(`can't run askpass program "${program}": ${err.code ?? err.message}`)));
    child.once('close', (code, signal) => {
      const answer = Buffer.concat(chunks).toString('utf8');
      chunks.length = 0;
      if (code !== 0) return reject(new Error(`askpass program "${program}" ${signal ? `was killed by ${signal}` : `exited with status ${code}`}`));
      // As readpass.c: the answer ends at the first newline.
      resolve(answer.split(/[\r\n]/)[0]);
    });
  });
}

/** A Prompter that asks through SSH_ASKPASS when OpenSSH would; otherwise `inner` unchanged. */
export function withAskpass(inner: Prompter, opts: { batch: boolean; env?: NodeJS.ProcessEnv }): Prompter {
  const env = opts.env ?? process.env;
  const program = opts.batch ? undefined : askpassProgram(env, inner.interactive);
  if (!program) return inner;
  return {
    interactive: true,
    ask: (question) => runAskpass(program, question, env),
    warn: (text) => inner.warn(text),
    debug: (text) => inner.debug(text),
  };
}
