/**
 * `ferry copy-id`: install public keys in a server's ~/.ssh/authorized_keys,
 * as ssh-copy-id does, but over SFTP (never a remote shell); then log in with
 * only the new key to check that it works.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import ssh2, { type ParsedKey } from 'ssh2';
import { ExitCode, FerryError, FileError, UsageError } from '../errors.js';
import { appendKeys, formatKeyLines, selectKeysToAdd, type KeyToInstall } from '../keys/authorized-keys.js';
import { fingerprintOf } from '../keys/key-summary.js';
import { parsePublicKeyLine } from '../keys/public-key.js';
import type { SshCliOptions } from '../ssh/config.js';
import { connectSsh, type ConnectOptions } from '../ssh/connect.js';
import { SftpEndpoint } from '../transfer/sftp.js';
import { escapeForTerminal } from '../util/escape.js';
import { inspectAuthorizedKeys, writeAuthorizedKeys } from './copy-id-install.js';
import { verifyKeyLogin, type KeyToVerify, type VerifyResult } from './copy-id-verify.js';
import { createTtyPrompter } from './tty-prompter.js';

export interface CopyIdOptions {
  /** -i FILE, or `true` for a bare -i (the newest ~/.ssh/id*.pub, not the agent). */
  identity?: string | true;
  port?: number;
  sshOptions: string[];
  configFile?: string;
  /** -n */
  dryRun: boolean;
  /** -f: add keys even if already present. */
  force: boolean;
}

interface CandidateKey extends KeyToInstall, KeyToVerify {
  /** For messages: the .pub file, or the agent. */
  source: string;
}

const out = (line = '') => process.stdout.write(`${line}\n`);
const note = (line: string) => process.stderr.write(`${line}\n`);

/** `[user@]host` or `ssh://[user@]host[:port]`, as ssh takes its destination. */
export function parseDestination(given: string): { user?: string; host: string; port?: number } {
  // ssh-copy-id drops a trailing colon (user@host: as scp would take it).
  const raw = given.replace(/:$/, '');
  const uri = /^ssh:\/\/(?:([^@/]*)@)?(\[[^\]]+\]|[^:/]+)(?::(\d+))?\/?$/.exec(raw);
  const at = raw.lastIndexOf('@');
  const [user, host, port] = uri ? [uri[1], uri[2]!, uri[3]] : [at >= 0 ? raw.slice(0, at) : undefined, raw.slice(at + 1), undefined];
  const bare = host.replace(/^\[(.*)\]$/, '$1');
  if (bare === '' || user === '' || /\s/.test(raw) || raw.startsWith('-') || (!uri && raw.startsWith('ssh://'))) {
    throw new UsageError(`bad destination "${raw}"`, { hint: 'write it as [user@]host (add -p PORT for another port)' });
  }
  const n = port === undefined ? undefined : Number(port);
  if (n !== undefined && (n < 1 || n > 65535)) throw new UsageError(`bad port in "${raw}"`);
  return { user, host: bare, port: n };
}

async function keysFromFile(file: string): Promise<CandidateKey[]> {
  const pub = file.endsWith('.pub') ? file : `${file}.pub`;
  const priv = pub.slice(0, -'.pub'.length);
  let text: string;
  try {
    text = await readFile(pub, 'utf8');
  } catch (err) {
    const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
    const fromPrivate = missing && pub !== file && (await stat(file).then((s) => s.isFile(), () => false));
    throw new FileError('read', 'local', pub, missing ? 'No such file or directory' : (err as Error).message, {
      cause: err,
      hint: fromPrivate ? `make it from the private key with: ferry keygen -y -f ${file} > ${pub}` : undefined,
    });
  }
  const privateFile = await stat(priv).then((s) => (s.isFile() ? priv : undefined), () => undefined);
  const keys = text.split('\n').flatMap((line) => {
    const k = parsePublicKeyLine(line, { bare: true });
    return k ? [{ publicBlob: k.publicBlob, comment: k.comment, source: pub, privateFile, inAgent: false }] : [];
  });
  if (keys.length === 0) throw new FileError('read', 'local', pub, 'no public key in it', { hint: 'give -i the key file made by ferry keygen or ssh-keygen' });
  return keys;
}

/** The newest ~/.ssh/id*.pub that is not a certificate, as ssh-copy-id picks it. */
async function newestDefaultKey(): Promise<string | undefined> {
  const dir = join(homedir(), '.ssh');
  const names = await readdir(dir).catch(() => [] as string[]);
  let best: { file: string; mtime: number } | undefined;
  for (const name of names) {
    if (!/^id.*\.pub$/.test(name) || name.endsWith('-cert.pub')) continue;
    const st = await stat(join(dir, name)).catch(() => undefined);
    if (st?.isFile() && (!best || st.mtimeMs > best.mtime)) best = { file: join(dir, name), mtime: st.mtimeMs };
  }
  return best?.file;
}

function agentKeys(socket: string | undefined): Promise<KeyToInstall[]> {
  if (!socket) return Promise.resolve([]);
  return new Promise((resolve) => {
    // No agent, or a dead one, just means no keys from it (as `ssh-add -L` failing does for ssh-copy-id).
    new ssh2.OpenSSHAgent(socket).getIdentities((err, keys) =>
      resolve(err ? [] : ((keys ?? []) as ParsedKey[]).map((k) => ({ publicBlob: k.getPublicSSH(), comment: k.comment ?? '' }))),
    );
  });
}

async function chooseKeys(identity: string | true | undefined, agentSocket: string | undefined): Promise<CandidateKey[]> {
  const inAgent = await agentKeys(agentSocket);
  const held = (blob: Buffer) => inAgent.some((k) => k.publicBlob.equals(blob));
  let keys: CandidateKey[];
  if (typeof identity === 'string') {
    keys = await keysFromFile(identity);
  } else if (identity === undefined && inAgent.length > 0) {
    keys = inAgent.map((k) => ({ ...k, source: 'the agent', inAgent: true }));
  } else {
    const file = await newestDefaultKey();
    if (!file) throw new FerryError('no identities found', { hint: 'create a key with "ferry keygen", or name one with -i FILE' });
    keys = await keysFromFile(file);
  }
  return keys.map((k) => ({ ...k, inAgent: held(k.publicBlob) }));
}

const shellQuote = (s: string) => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);

function loginCommand(destination: string, o: CopyIdOptions): string {
  const words = ['ssh'];
  if (o.port !== undefined && o.port !== 22) words.push('-p', String(o.port));
  if (o.configFile) words.push('-F', shellQuote(o.configFile));
  for (const opt of o.sshOptions) words.push('-o', shellQuote(opt));
  // Quoted even when plain, as ssh-copy-id prints it.
  words.push(`'${destination.replace(/'/g, `'\\''`)}'`);
  return words.join(' ');
}

function describeKey(k: CandidateKey): string {
  const fp = fingerprintOf(k.publicBlob);
  if (k.privateFile) return `${k.privateFile} (${fp})`;
  // An agent's comment can hold anything; keep control characters off the terminal.
  return k.source === 'the agent' ? `agent key "${escapeForTerminal(k.comment)}" (${fp})` : `${k.source} (${fp})`;
}

function reportVerification(k: CandidateKey, r: VerifyResult): boolean {
  if (r.status === 'ok') {
    const via = r.via === 'agent' && k.privateFile ? ' (through the agent)' : '';
    out(`Key login works: logged in again with only ${describeKey(k)}${via}, no password needed.`);
    return true;
  }
  if (r.status === 'unchecked') {
    note(`ferry: could not check the login with ${describeKey(k)}: ${r.reason}`);
    return true;
  }
  note(`ferry: key login with ${describeKey(k)} failed: ${r.reason}`);
  if (r.hint) note(`ferry: hint: ${r.hint}`);
  return false;
}

interface Installed {
  added: CandidateKey[];
  warnings: string[];
}

async function install(keys: CandidateKey[], host: ConnectOptions, o: CopyIdOptions): Promise<Installed> {
  const conn = await connectSsh(host);
  try {
    const ep = new SftpEndpoint(await conn.openSftp(), { label: conn.settings.hostName });
    try {
      // SFTP paths are relative to the login directory, i.e. ~.
      const state = await inspectAuthorizedKeys(ep, '.ssh');
      const added = selectKeysToAdd(state.content, keys, o.force);
      if (added.length > 0 && !o.dryRun) await writeAuthorizedKeys(ep, state, appendKeys(state.content, added));
      return { added, warnings: state.warnings };
    } finally {
      await ep.end();
    }
  } finally {
    conn.end();
  }
}

export async function runCopyId(destination: string, o: CopyIdOptions): Promise<number> {
  const dest = parseDestination(destination);
  const port = o.port ?? dest.port;
  const batch = o.sshOptions.some((s) => /^\s*batchmode\s*[= ]\s*(yes|true)\s*$/i.test(s));
  const prompter = createTtyPrompter({ verbose: 0, batch });
  const agentSocket = process.env.SSH_AUTH_SOCK || undefined;
  const keys = await chooseKeys(o.identity, agentSocket);
  const cli: SshCliOptions = { configFile: o.configFile, options: o.sshOptions, port };
  const target = { alias: dest.host, user: dest.user, cli, prompter };

  const { added, warnings } = await install(keys, target, o);
  for (const w of warnings) note(`ferry: warning: ${w}`);
  if (added.length === 0) {
    note('ferry: WARNING: All keys were skipped because they already exist on the remote system.');
    note('\t\t(if you think this is a mistake, you may want to use -f option)');
    out('Number of key(s) added: 0');
    return ExitCode.ok;
  }
  if (o.dryRun) {
    out('=-=-=-=-=-=-=-=');
    out('Would have added the following key(s):');
    out();
    for (const line of formatKeyLines(added).split('\n').slice(0, -1)) out(escapeForTerminal(line));
    out('=-=-=-=-=-=-=-=');
    return ExitCode.ok;
  }

  out();
  out(`Number of key(s) added: ${added.length}`);
  out();
  out(`Now try logging into the machine, with: "${loginCommand(destination, o)}"`);
  out('and check to make sure that only the key(s) you wanted were added.');
  out();
  let ok = true;
  for (const k of added) ok = reportVerification(k, await verifyKeyLogin({ ...target, agentSocket }, k)) && ok;
  return ok ? ExitCode.ok : ExitCode.partial;
}
