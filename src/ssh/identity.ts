/**
 * Identity files as OpenSSH treats them: refused when others can read them,
 * offered to the server by their public half first, and unlocked (passphrase
 * asked) only when the server would accept the key, once per run.
 */
import { readFileSync, statSync } from 'node:fs';
import ssh2 from 'ssh2';
import type { ParsedKey, SigningRequestOptions } from 'ssh2';
import { keyTypeOfBlob } from '../keys/fingerprint.js';
import { parsePublicKeyLine } from '../keys/public-key.js';
import { privateKeyNeedsPassphrase } from '../keys/load-key.js';
import { isOpenSshPrivateKey, readPrivateKeyHeader } from '../keys/openssh-format.js';
import type { HostSettings } from './config.js';
import type { Prompter } from './prompter.js';

export interface IdentityFile {
  path: string;
  /** Named by -i or IdentityFile (not one of OpenSSH's defaults). */
  explicit: boolean;
}

/** Unlocked keys by path (undefined: given up on), so one run asks once per key. */
const unlocked = new Map<string, Promise<ParsedKey | undefined>>();

function unprotectedWarning(path: string, mode: number): string {
  return (
    '@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n' +
    '@         WARNING: UNPROTECTED PRIVATE KEY FILE!          @\n' +
    '@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n' +
    `Permissions 0${(mode & 0o777).toString(8)} for '${path}' are too open.\n` +
    'It is required that your private key files are NOT accessible by others.\n' +
    'This private key will be ignored.\n' +
    `Fix it with: chmod 600 '${path}'`
  );
}

/** The private key file's text, or undefined (with the reason told) when it may not or cannot be used. */
export function readIdentityFile(f: IdentityFile, prompter: Prompter): string | undefined {
  try {
    const st = statSync(f.path);
    if ((st.mode & 0o077) !== 0 && process.getuid?.() === st.uid) {
      prompter.warn(unprotectedWarning(f.path, st.mode));
      return undefined;
    }
    return readFileSync(f.path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (f.explicit) prompter.warn(`Warning: Identity file ${f.path} not accessible: ${code === 'ENOENT' ? 'No such file or directory' : code ?? 'unreadable'}.`);
    else prompter.debug(`no identity file ${f.path}`);
    return undefined;
  }
}

function parsePublic(type: string, blob: Buffer): ParsedKey | undefined {
  const parsed = ssh2.utils.parseKey(`${type} ${blob.toString('base64')}`);
  return parsed instanceof Error ? undefined : Array.isArray(parsed) ? parsed[0] : parsed;
}

/**
 * The public half without a passphrase: from `path.pub`, else (given the
 * private file's text) the openssh-key-v1 header or an unencrypted key.
 */
export function publicKeyOf(path: string, text?: string): ParsedKey | undefined {
  try {
    const line = readFileSync(`${path}.pub`, 'utf8').split('\n').map((l) => parsePublicKeyLine(l, { bare: true })).find(Boolean);
    if (line) return parsePublic(keyTypeOfBlob(line.publicBlob), line.publicBlob);
  } catch {
    /* no .pub: try the private file's own header */
  }
  if (text === undefined) return undefined;
  if (isOpenSshPrivateKey(text)) {
    try {
      const blob = readPrivateKeyHeader(text).publicBlob;
      return parsePublic(keyTypeOfBlob(blob), blob);
    } catch {
      return undefined;
    }
  }
  const parsed = privateKeyNeedsPassphrase(text) ? undefined : ssh2.utils.parseKey(text);
  if (!parsed || parsed instanceof Error) return undefined;
  const key = Array.isArray(parsed) ? parsed[0] : parsed;
  return parsePublic(key.type, key.getPublicSSH());
}

function tryParse(text: string, passphrase?: string): ParsedKey | Error {
  try {
    const parsed = ssh2.utils.parseKey(text, passphrase);
    return Array.isArray(parsed) ? parsed[0] : parsed;
  } catch (err) {
    return err as Error;
  }
}

async function askAndDecrypt(path: string, text: string, s: HostSettings, prompter: Prompter): Promise<ParsedKey | undefined> {
  if (!privateKeyNeedsPassphrase(text)) {
    const key = tryParse(text);
    if (key instanceof Error) prompter.debug(`skipping ${path}: ${key.message}`);
    return key instanceof Error ? undefined : key;
  }
  if (s.batchMode || !prompter.interactive) {
    prompter.debug(`skipping encrypted key ${path}: no passphrase can be asked for`);
    return undefined;
  }
  let question = `Enter passphrase for key '${path}': `;
  for (let i = 0; i < Math.max(1, s.numberOfPasswordPrompts); i++) {
    let pass: string;
    try {
      pass = await prompter.ask(question, { secret: true });
    } catch {
      return undefined;
    }
    if (pass === '') return undefined;
    const key = tryParse(text, pass);
    if (!(key instanceof Error)) return key;
    question = `Bad passphrase, try again for ${path}: `;
  }
  prompter.debug(`giving up on ${path}: no correct passphrase`);
  return undefined;
}

/** The private key, asking for its passphrase at most once per run. */
export function unlockIdentity(path: string, text: string, s: HostSettings, prompter: Prompter): Promise<ParsedKey | undefined> {
  let p = unlocked.get(path);
  if (!p) {
    p = askAndDecrypt(path, text, s, prompter);
    unlocked.set(path, p);
  }
  return p;
}

/**
 * One identity file presented to ssh2 as a one-key agent: ssh2 offers the
 * public key, and only when the server answers that it would accept it is
 * sign() called, which is when an encrypted key gets unlocked.
 */
export class IdentityFileAgent extends ssh2.BaseAgent<ParsedKey> {
  constructor(
    private readonly publicKey: ParsedKey | undefined,
    private readonly unlock: () => Promise<ParsedKey | undefined>,
    /** The key is not encrypted: signing asks nobody anything, so it may sign on the first try. */
    readonly signsFirst = false,
  ) {
    super();
  }

  getIdentities(cb: (err: Error | undefined, keys?: ParsedKey[]) => void): void {
    if (this.publicKey) return cb(undefined, [this.publicKey]);
    // No public half on disk (an encrypted PEM key without .pub): unlock first, as OpenSSH does.
    this.unlock().then(
      (key) => cb(undefined, key ? [key] : []),
      (err: Error) => cb(err),
    );
  }

  sign(_pub: ParsedKey, data: Buffer, options: SigningRequestOptions | ((err: Error | undefined, sig?: Buffer) => void), cb?: (err: Error | undefined, sig?: Buffer) => void): void {
    const done = typeof options === 'function' ? options : cb!;
    const hash = typeof options === 'function' ? undefined : options?.hash;
    this.unlock().then(
      (key) => {
        if (!key) return done(new Error('identity not available'));
        const sig = key.sign(data, hash);
        if (sig instanceof Error) done(sig);
        else done(undefined, sig);
      },
      (err: Error) => done(err),
    );
  }
}

/**
 * The user's agent, listing only keys that `allow` passes (IdentitiesOnly)
 * and remembering which it offered, so identity files are not offered twice.
 */
export class ListingAgent extends ssh2.OpenSSHAgent {
  /** The agent holds its keys unlocked: it signs without a prompt, so on the first try. */
  readonly signsFirst = true;

  constructor(
    socketPath: string,
    private readonly allow: (key: ParsedKey) => boolean,
    private readonly offered: Set<string>,
  ) {
    super(socketPath);
  }

  override getIdentities(cb: (err: Error | undefined, keys?: ParsedKey[]) => void): void {
    super.getIdentities((err, keys) => {
      if (err) return cb(err);
      // The OpenSSH agent always answers with parsed keys; the typings allow more.
      const ok = ((keys ?? []) as ParsedKey[]).filter((k) => this.allow(k));
      for (const k of ok) this.offered.add(k.getPublicSSH().toString('base64'));
      cb(undefined, ok);
    });
  }
}
