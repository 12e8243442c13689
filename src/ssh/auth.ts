/**
 * Authentication in OpenSSH's order: agent keys (SSH_AUTH_SOCK or
 * IdentityAgent), identity files (a passphrase asked only for a key the server
 * would accept), keyboard-interactive, password; PreferredAuthentications may
 * reorder the methods. Secrets live only in memory long enough to hand them
 * to ssh2, and never reach argv, logs or messages.
 */
import { existsSync } from 'node:fs';
import type { AnyAuthMethod, AuthenticationType, AuthHandlerMiddleware, ParsedKey } from 'ssh2';
import { sha256Fingerprint } from '../keys/fingerprint.js';
import { privateKeyNeedsPassphrase } from '../keys/load-key.js';
import type { HostSettings } from './config.js';
import { IdentityFileAgent, ListingAgent, publicKeyOf, readIdentityFile, unlockIdentity, type IdentityFile } from './identity.js';
import type { Prompter } from './prompter.js';
import type { FirstTrySigner } from './round-trips.js';

const DEFAULT_ORDER = ['publickey', 'keyboard-interactive', 'password'];

/** The agent socket to use, or undefined for none. */
export function agentSocket(s: HostSettings, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const ia = s.identityAgent;
  if (ia === 'none') return undefined;
  if (ia === undefined || ia === 'SSH_AUTH_SOCK') return env.SSH_AUTH_SOCK || undefined;
  if (ia.startsWith('$')) return env[ia.slice(1)] || undefined;
  return ia;
}

export interface AuthState {
  /** The method last offered: the one that succeeded once the connection is ready. */
  lastMethod?: AnyAuthMethod['type'];
  /** The agent of the method being tried, when it is one (for signing on the first try). */
  agent?: FirstTrySigner;
}

interface Step {
  /** Checked against the server's list before run() asks anybody anything. */
  method: AuthenticationType;
  run: () => Promise<AnyAuthMethod | undefined>;
}

function publicKeySteps(s: HostSettings, prompter: Prompter): Step[] {
  const steps: Step[] = [];
  const files: IdentityFile[] = s.identityFiles.map((path) => ({ path, explicit: s.identityFilesExplicit }));
  // Base64 public blobs the agent has offered, so a file is not offered twice.
  const offered = new Set<string>();
  const sock = agentSocket(s);
  if (sock) {
    steps.push({ method: 'publickey', run: async () => {
      if (!existsSync(sock)) {
        prompter.debug(`no agent at ${sock}`);
        return undefined;
      }
      let allow: (k: ParsedKey) => boolean = () => true;
      if (s.identitiesOnly) {
        // Only agent keys that belong to the configured identity files.
        const wanted = new Set<string>();
        // As OpenSSH, a .pub file alone is enough to name an agent key.
        const quiet = { ...prompter, warn: () => undefined, debug: () => undefined };
        for (const f of files) {
          const pub = publicKeyOf(f.path) ?? publicKeyOf(f.path, readIdentityFile({ ...f, explicit: false }, quiet));
          if (pub) wanted.add(pub.getPublicSSH().toString('base64'));
        }
        allow = (k) => wanted.has(k.getPublicSSH().toString('base64'));
      }
      prompter.debug(`Trying keys from the agent at ${sock}${s.identitiesOnly ? ' (IdentitiesOnly: only those of identity files)' : ''}`);
      return { type: 'agent', username: s.user, agent: new ListingAgent(sock, allow, offered) };
    } });
  }
  for (const f of files) {
    steps.push({ method: 'publickey', run: async () => {
      const inAgent = (k: ParsedKey | undefined) => k !== undefined && offered.has(k.getPublicSSH().toString('base64'));
      if (inAgent(publicKeyOf(f.path))) {
        prompter.debug(`${f.path}: already offered through the agent`);
        return undefined;
      }
      const text = readIdentityFile(f, prompter);
      if (text === undefined) return undefined;
      const pub = publicKeyOf(f.path, text);
      if (inAgent(pub)) {
        prompter.debug(`${f.path}: already offered through the agent`);
        return undefined;
      }
      prompter.debug(`Offering public key: ${f.path}${pub ? ` ${pub.type} ${sha256Fingerprint(pub.getPublicSSH())}` : ''}`);
      const agent = new IdentityFileAgent(pub, () => unlockIdentity(f.path, text, s, prompter), !privateKeyNeedsPassphrase(text));
      return { type: 'agent', username: s.user, agent };
    } });
  }
  return steps;
}

function keyboardInteractiveStep(s: HostSettings, prompter: Prompter, canAsk: () => boolean): Step {
  return { method: 'keyboard-interactive', run: async () => {
    if (!canAsk()) return undefined;
    return {
      type: 'keyboard-interactive',
      username: s.user,
      prompt: (name, instructions, _lang, prompts, finish) => {
        if (prompts.length === 0) return finish([]);
        // As OpenSSH: the server's name and instructions, then each prompt.
        if (name) prompter.warn(name);
        if (instructions) prompter.warn(instructions);
        (async () => {
          const answers: string[] = [];
          for (const p of prompts) answers.push(await prompter.ask(p.prompt, { secret: !p.echo }));
          finish(answers);
        })().catch(() => finish([]));
      },
    };
  } };
}

function passwordStep(s: HostSettings, prompter: Prompter, canAsk: () => boolean): Step {
  return { method: 'password', run: async () => {
    if (!canAsk()) return undefined;
    let password: string;
    try {
      password = await prompter.ask(`${s.user}@${s.hostName}'s password: `, { secret: true });
    } catch {
      return undefined;
    }
    return { type: 'password', username: s.user, password };
  } };
}

/** The methods to try, in order. */
function buildSteps(s: HostSettings, prompter: Prompter): Step[] {
  const canAsk = () => prompter.interactive && !s.batchMode;
  const steps: Step[] = [];
  const order = (s.preferredAuthentications ?? DEFAULT_ORDER).filter((m, i, all) => all.indexOf(m) === i);
  for (const method of order) {
    if (method === 'publickey' && s.pubkeyAuthentication) steps.push(...publicKeySteps(s, prompter));
    const tries = Math.max(0, s.numberOfPasswordPrompts);
    if (method === 'keyboard-interactive' && s.kbdInteractiveAuthentication) {
      for (let i = 0; i < tries; i++) steps.push(keyboardInteractiveStep(s, prompter, canAsk));
    }
    if (method === 'password' && s.passwordAuthentication) {
      for (let i = 0; i < tries; i++) steps.push(passwordStep(s, prompter, canAsk));
    }
  }
  return steps;
}

/** The authHandler ssh2 calls for each next method to try. */
export function createAuthHandler(s: HostSettings, prompter: Prompter, state: AuthState = {}): AuthHandlerMiddleware {
  const steps = buildSteps(s, prompter);
  let next = 0;
  return (methodsLeft, _partial, callback) => {
    (async () => {
      while (next < steps.length) {
        const step = steps[next++];
        if (methodsLeft && !methodsLeft.includes(step.method)) continue;
        const m = await step.run();
        if (!m) continue;
        state.lastMethod = m.type;
        state.agent = m.type === 'agent' ? (m.agent as unknown as FirstTrySigner) : undefined;
        return m;
      }
      return false as const;
    })().then(
      // ssh2 takes `false` for "no more methods", which its typings omit.
      (m) => callback(m as AnyAuthMethod),
      () => callback(false as unknown as AnyAuthMethod),
    );
  };
}
