/**
 * Authentication in OpenSSH's order: agent keys, identity files (asking for
 * a passphrase when one is encrypted), keyboard-interactive, password.
 * Secrets live only in memory long enough to hand them to ssh2.
 */
import { readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import ssh2 from 'ssh2';
import type { AnyAuthMethod, AuthenticationType, AuthHandlerMiddleware, ParsedKey } from 'ssh2';
import type { HostSettings } from './config.js';
import type { Prompter } from './prompter.js';

const DEFAULT_IDENTITIES = ['id_ed25519', 'id_ecdsa', 'id_rsa'];

function agentSocket(s: HostSettings): string | undefined {
  if (s.identitiesOnly) return undefined;
  const ia = s.identityAgent;
  if (ia === 'none') return undefined;
  if (ia && ia !== 'SSH_AUTH_SOCK') return ia.startsWith('$') ? process.env[ia.slice(1)] : ia;
  return process.env.SSH_AUTH_SOCK || undefined;
}

interface IdentityFile {
  path: string;
  explicit: boolean;
}

function identityFiles(s: HostSettings): IdentityFile[] {
  const files: IdentityFile[] = s.identityFiles.map((path) => ({ path, explicit: true }));
  if (files.length === 0) {
    for (const name of DEFAULT_IDENTITIES) files.push({ path: `${homedir()}/.ssh/${name}`, explicit: false });
  }
  return files;
}

/** Load one private key, asking for its passphrase if needed. undefined = skip it. */
async function loadIdentity(f: IdentityFile, s: HostSettings, prompter: Prompter): Promise<ParsedKey | undefined> {
  let data: Buffer;
  try {
    const st = statSync(f.path);
    if ((st.mode & 0o077) !== 0 && process.getuid?.() === st.uid) {
      prompter.warn(
        '@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n' +
          '@         WARNING: UNPROTECTED PRIVATE KEY FILE!          @\n' +
          '@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n' +
          `Permissions 0${(st.mode & 0o777).toString(8)} for '${f.path}' are too open.\n` +
          'It is required that your private key files are NOT accessible by others.\n' +
          'This private key will be ignored.\n' +
          `Fix it with: chmod 600 '${f.path}'`,
      );
      return undefined;
    }
    data = readFileSync(f.path);
  } catch {
    if (f.explicit) prompter.warn(`Warning: Identity file ${f.path} not accessible: No such file or directory.`);
    return undefined;
  }
  let parsed = ssh2.utils.parseKey(data);
  for (let attempt = 0; parsed instanceof Error && /encrypted|passphrase/i.test(parsed.message); attempt++) {
    if (attempt >= 3 || s.batchMode || !prompter.interactive) {
      prompter.debug(`skipping encrypted key ${f.path}: no passphrase can be asked for`);
      return undefined;
    }
    const pass = await prompter.ask(`Enter passphrase for key '${f.path}': `, { secret: true });
    if (pass === '') return undefined;
    parsed = ssh2.utils.parseKey(data, pass);
  }
  if (parsed instanceof Error) {
    prompter.debug(`skipping ${f.path}: ${parsed.message}`);
    return undefined;
  }
  return Array.isArray(parsed) ? parsed[0] : parsed;
}

export interface AuthState {
  /** The method last offered: the one that succeeded once the connection is ready. */
  lastMethod?: AnyAuthMethod['type'];
}

/** The authHandler ssh2 calls for each next method to try. */
export function createAuthHandler(s: HostSettings, prompter: Prompter, state: AuthState = {}): AuthHandlerMiddleware {
  const canAsk = () => prompter.interactive && !s.batchMode;
  const steps: (() => Promise<AnyAuthMethod | undefined>)[] = [];
  const agent = agentSocket(s);
  if (agent) steps.push(async () => ({ type: 'agent', username: s.user, agent }));
  for (const f of identityFiles(s)) {
    steps.push(async () => {
      const key = await loadIdentity(f, s, prompter);
      if (!key) return undefined;
      prompter.debug(`Offering public key: ${f.path} ${key.type}`);
      return { type: 'publickey', username: s.user, key };
    });
  }
  steps.push(async () => {
    if (!canAsk()) return undefined;
    return {
      type: 'keyboard-interactive',
      username: s.user,
      prompt: (_name, instructions, _lang, prompts, finish) => {
        if (instructions) prompter.warn(instructions);
        (async () => {
          const answers: string[] = [];
          for (const p of prompts) answers.push(await prompter.ask(p.prompt, { secret: !p.echo }));
          finish(answers);
        })().catch(() => finish([]));
      },
    };
  });
  if (s.passwordAuthentication) {
    for (let i = 0; i < s.numberOfPasswordPrompts; i++) {
      steps.push(async () => {
        if (!canAsk()) return undefined;
        const password = await prompter.ask(`${s.user}@${s.hostName}'s password: `, { secret: true });
        return { type: 'password', username: s.user, password };
      });
    }
  }

  const methodOf = (m: AnyAuthMethod): AuthenticationType => (m.type === 'agent' ? 'publickey' : m.type);
  let next = 0;
  return (methodsLeft, _partial, callback) => {
    (async () => {
      while (next < steps.length) {
        const m = await steps[next++]();
        if (!m) continue;
        if (methodsLeft && !methodsLeft.includes(methodOf(m))) continue;
        state.lastMethod = m.type;
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
