/**
 * The Prompter for a person at a terminal: questions on stderr, answers from
 * stdin, echo off for secrets. Without a TTY on both, it never asks.
 */
import type { Prompter } from '../ssh/prompter.js';
import { escapeForTerminal } from '../util/escape.js';

function readLine(question: string, secret: boolean): Promise<string> {
  const stdin = process.stdin;
  return new Promise((resolve, reject) => {
    let answer = '';
    const wasRaw = stdin.isRaw;
    // Echo off before the question appears: a fast typist's secret must never be echoed.
    stdin.setRawMode(true);
    process.stderr.write(question);
    stdin.resume();
    const done = (err?: Error) => {
      stdin.setRawMode(wasRaw);
      stdin.pause();
      stdin.off('data', onData);
      process.stderr.write('\n');
      if (err) reject(err);
      else resolve(answer);
    };
    const onData = (chunk: Buffer) => {
      for (const ch of chunk.toString('utf8')) {
        if (ch === '\r' || ch === '\n') return done();
        if (ch === '\u0003' || ch === '\u0004') return done(new Error('cancelled'));
        if (ch === '\u007f' || ch === '\b') {
          if (answer.length > 0) {
            answer = answer.slice(0, -1);
            if (!secret) process.stderr.write('\b \b');
          }
          continue;
        }
        answer += ch;
        if (!secret) process.stderr.write(ch);
      }
    };
    stdin.on('data', onData);
  });
}

export function createTtyPrompter(opts: { verbose: number; batch: boolean; quiet?: boolean }): Prompter {
  const interactive = !opts.batch && Boolean(process.stdin.isTTY && process.stderr.isTTY);
  let queue = Promise.resolve('');
  return {
    interactive,
    ask(question, o) {
      if (!interactive) return Promise.reject(new Error('no terminal to ask on'));
      // Several connections may ask at once; one question at a time on the screen.
      const p = queue.catch(() => '').then(() => readLine(question, Boolean(o?.secret)));
      queue = p;
      return p;
    },
    warn(text) {
      if (opts.quiet) return;
      process.stderr.write(text.split('\n').map(escapeForTerminal).join('\n') + '\n');
    },
    debug(text) {
      if (opts.verbose > 0) process.stderr.write(`debug1: ${escapeForTerminal(text)}\n`);
    },
  };
}
