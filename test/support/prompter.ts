// A prompter for tests: answers questions from a list and records what ferry
// asked, warned and printed, instead of using a terminal.
import type { Prompter } from '../../src/ssh/prompter.js';

export interface ScriptedPrompter {
  prompter: Prompter;
  asked: string[];
  warned: string[];
  debugged: string[];
  /** Warnings and debug lines together, in the order they came. */
  output: string[];
}

/** Answers in order; past the last one a question fails, as a cancelled prompt would. */
export function scriptedPrompter(answers: string[], interactive = true): ScriptedPrompter {
  const s: ScriptedPrompter = {
    asked: [],
    warned: [],
    debugged: [],
    output: [],
    prompter: {
      interactive,
      ask: async (q) => {
        s.asked.push(q);
        const a = answers.shift();
        if (a === undefined) throw new Error('no more answers');
        return a;
      },
      warn: (t) => void (s.warned.push(t), s.output.push(t)),
      debug: (t) => void (s.debugged.push(t), s.output.push(t)),
    },
  };
  return s;
}
