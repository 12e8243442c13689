/**
 * After copy-id: log in again offering only the newly installed key, with no
 * password or keyboard-interactive fallback, and report whether it worked.
 */
import { readFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { privateKeyNeedsPassphrase } from '../keys/load-key.js';
import { formatPublicKey } from '../keys/public-key.js';
import type { SshCliOptions } from '../ssh/config.js';
import { connectSsh } from '../ssh/connect.js';
import type { Prompter } from '../ssh/prompter.js';

export interface KeyToVerify {
  publicBlob: Buffer;
  /** The private key file beside the public one, when there is one. */
  privateFile?: string;
  /** Whether the ssh-agent at `agentSocket` holds this key. */
  inAgent: boolean;
}

export interface VerifyTarget {
  alias: string;
  user?: string;
  /** The user's -F, -p and -o; the options forcing key-only login go before (first value wins). */
  cli: SshCliOptions;
  prompter: Prompter;
  agentSocket?: string;
}

/** How the key was offered: through the agent, or from its private key file. */
export type Via = 'agent' | 'file';

export type VerifyResult =
  | { status: 'ok'; via: Via }
  | { status: 'failed'; via: Via; reason: string; hint?: string }
  | { status: 'unchecked'; reason: string };

/** Publickey only: no password, no keyboard-interactive, nothing to fall back on. */
const KEY_ONLY = ['PreferredAuthentications=publickey', 'PasswordAuthentication=no', 'KbdInteractiveAuthentication=no', 'IdentitiesOnly=yes'];

/** Passes on only passphrase questions: any other (a password, a host key) means the key alone did not do. */
function passphraseOnly(p: Prompter): Prompter {
  return {
    interactive: p.interactive,
    ask: (q, o) => (/^Enter passphrase for key /.test(q) ? p.ask(q, o) : Promise.reject(new Error('only the new key may be used'))),
    warn: (t) => p.warn(t),
    debug: (t) => p.debug(t),
  };
}

async function tryLogin(t: VerifyTarget, via: Via, cli: SshCliOptions): Promise<VerifyResult> {
  try {
    const conn = await connectSsh({ alias: t.alias, user: t.user, cli, prompter: passphraseOnly(t.prompter) });
    conn.end();
    return { status: 'ok', via };
  } catch (err) {
    return {
      status: 'failed',
      via,
      reason: (err as Error).message,
      hint: 'the server may ignore authorized_keys (StrictModes: home, ~/.ssh or the file writable by others; or another AuthorizedKeysFile)',
    };
  }
}

/**
 * As `ssh -o IdentitiesOnly=yes -i key.pub`: with IdentitiesOnly, an identity
 * file whose .pub names an agent key makes the agent offer that key only. The
 * private half is never written: only the public key goes in a temporary file.
 */
async function viaAgent(t: VerifyTarget, key: KeyToVerify): Promise<VerifyResult> {
  const dir = await mkdtemp(join(tmpdir(), 'ferry-copy-id-'));
  try {
    const identity = join(dir, 'agent-key');
    await writeFile(`${identity}.pub`, formatPublicKey(key.publicBlob, ''), { mode: 0o600 });
    return await tryLogin(t, 'agent', {
      ...t.cli,
      options: [`IdentityAgent=${t.agentSocket}`, 'BatchMode=yes', ...KEY_ONLY, ...(t.cli.options ?? [])],
      identityFiles: [identity],
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function viaFile(t: VerifyTarget, file: string): Promise<VerifyResult> {
  const encrypted = privateKeyNeedsPassphrase(await readFile(file, 'utf8'));
  if (encrypted && !t.prompter.interactive) {
    return { status: 'unchecked', reason: `${file} needs a passphrase and there is no terminal to ask for it` };
  }
  return tryLogin(t, 'file', {
    ...t.cli,
    options: [...(encrypted ? [] : ['BatchMode=yes']), ...KEY_ONLY, ...(t.cli.options ?? [])],
    identityFiles: [file],
  });
}

/** Log in with only `key`: through the agent if it holds it, else with its private key file. */
export async function verifyKeyLogin(t: VerifyTarget, key: KeyToVerify): Promise<VerifyResult> {
  try {
    if (key.inAgent && t.agentSocket) return await viaAgent(t, key);
    if (key.privateFile) return await viaFile(t, key.privateFile);
  } catch (err) {
    return { status: 'unchecked', reason: (err as Error).message };
  }
  return { status: 'unchecked', reason: 'its private key is neither beside the public key nor in the agent' };
}
