/**
 * `ferry keygen`: create a key pair, or with -l / -y / -p show the fingerprint,
 * print the public key, or change the passphrase of an existing key. Output
 * follows ssh-keygen line for line; prompts go to stderr, results to stdout.
 */
import { readFile } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { FerryError, FileError, InterruptedError, UsageError } from '../errors.js';
import { DEFAULT_BITS, describeBadBits, generateKey, KEY_ALGORITHMS, type KeyAlgorithm } from '../keys/generate.js';
import { UnsupportedKeyTypeError } from '../keys/key-types.js';
import { describeKey, fingerprintOf } from '../keys/key-summary.js';
import { loadKeysForFingerprint, parsePrivateKeyText, privateKeyNeedsPassphrase } from '../keys/load-key.js';
import { encodePrivateKey, KeyFormatError, PassphraseRequiredError, WrongPassphraseError } from '../keys/openssh-format.js';
import { formatPublicKey, formatPublicKeyFile } from '../keys/public-key.js';
import { randomartForKey, type FingerprintHash } from '../keys/randomart.js';
import {
  findExistingKeyFiles,
  KeyFileExistsError,
  KeyFileWriteError,
  PRIVATE_KEY_MODE,
  replaceFile,
  writeKeyPair,
} from '../keys/write-key-pair.js';
import type { Prompter } from '../ssh/prompter.js';
import { createTtyPrompter } from './tty-prompter.js';

export interface KeygenOptions {
  type?: string;
  bits?: number;
  comment?: string;
  /** -N: the new passphrase ("" for none). */
  newPassphrase?: string;
  /** -P: the current passphrase, for -y and -p. */
  oldPassphrase?: string;
  file?: string;
  quiet: boolean;
  force: boolean;
  /** -l */
  fingerprint: boolean;
  /** -E */
  hash: FingerprintHash;
  /** -v: randomart with -l */
  visual: boolean;
  /** -y */
  printPublic: boolean;
  /** -p */
  changePassphrase: boolean;
}

const out = (line: string) => process.stdout.write(`${line}\n`);
const MAX_PASSPHRASE_TRIES = 3;

/** The part of a Node system error a person needs: "no such file or directory". */
function reasonOf(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  if (e?.code && typeof e.message === 'string') {
    const m = /^[A-Z]+: ([^,]+)/.exec(e.message);
    if (m) return m[1]!;
  }
  return err instanceof Error ? err.message : String(err);
}

function fileErrorFor(verb: string, file: string, err: unknown): Error {
  if (err instanceof FerryError) return err;
  if (err instanceof KeyFileExistsError) {
    return new FileError('overwrite', 'local', err.path, 'file exists; pass --force to replace it', { cause: err });
  }
  if (err instanceof KeyFileWriteError) return new FileError('write', 'local', err.path, reasonOf(err.cause), { cause: err });
  if (err instanceof WrongPassphraseError) return new FileError('decrypt', 'local', file, 'incorrect passphrase', { cause: err });
  if (err instanceof PassphraseRequiredError) {
    return new UsageError(`read local "${file}": key is encrypted; give its passphrase with -P (or run on a terminal to be asked)`);
  }
  if (err instanceof KeyFormatError || err instanceof UnsupportedKeyTypeError) {
    return new FileError(verb, 'local', file, err.message, { cause: err });
  }
  return new FileError(verb, 'local', file, reasonOf(err), { cause: err });
}

async function ask(prompter: Prompter, question: string): Promise<string> {
  try {
    return await prompter.ask(question, { secret: true });
  } catch (err) {
    throw new InterruptedError('cancelled at the passphrase prompt', { cause: err });
  }
}

async function askNewPassphrase(prompter: Prompter, first: string): Promise<string> {
  for (let i = 0; i < MAX_PASSPHRASE_TRIES; i++) {
    const a = await ask(prompter, first);
    const b = await ask(prompter, 'Enter same passphrase again: ');
    if (a === b) return a;
    prompter.warn('Passphrases do not match.  Try again.');
  }
  throw new FerryError('passphrases did not match; nothing was changed');
}

function defaultComment(): string {
  let user = process.env.USER ?? 'user';
  try {
    user = os.userInfo().username;
  } catch {
    // No passwd entry (some containers): keep $USER.
  }
  return `${user}@${os.hostname()}`;
}

function requireFile(opts: KeygenOptions, flag: string): string {
  if (!opts.file) throw new UsageError(`keygen ${flag} needs the key file: -f FILE`);
  return opts.file;
}

async function readKeyFile(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    throw fileErrorFor('read', file, err);
  }
}

async function showFingerprints(opts: KeygenOptions): Promise<number> {
  const file = requireFile(opts, '-l');
  let keys;
  try {
    keys = await loadKeysForFingerprint(file);
  } catch (err) {
    throw fileErrorFor('read', file, err);
  }
  for (const key of keys) {
    out(describeKey(key.publicBlob, key.comment, opts.hash));
    if (opts.visual) out(randomartForKey(key.publicBlob, opts.hash));
  }
  return 0;
}

/** The decrypted private key in `file`, asking for its passphrase when needed and not given. */
async function openPrivateKey(file: string, opts: KeygenOptions, prompter: Prompter, question: string) {
  const text = await readKeyFile(file);
  let passphrase = opts.oldPassphrase;
  try {
    if (passphrase === undefined && privateKeyNeedsPassphrase(text) && prompter.interactive) passphrase = await ask(prompter, question);
    return parsePrivateKeyText(text, passphrase);
  } catch (err) {
    throw fileErrorFor('read', file, err);
  }
}

async function printPublicKey(opts: KeygenOptions, prompter: Prompter): Promise<number> {
  const file = requireFile(opts, '-y');
  const key = await openPrivateKey(file, opts, prompter, 'Enter passphrase: ');
  process.stdout.write(formatPublicKey(key.publicBlob, key.comment));
  return 0;
}

async function changePassphrase(opts: KeygenOptions, prompter: Prompter): Promise<number> {
  const file = requireFile(opts, '-p');
  if (opts.newPassphrase === undefined && !prompter.interactive) {
    throw new UsageError('no terminal to ask for the new passphrase on: give it with -N ("" for none)');
  }
  const key = await openPrivateKey(file, opts, prompter, 'Enter old passphrase: ');
  if (key.privateFields === undefined) {
    throw new FileError('rewrite', 'local', file, 'not in OpenSSH format; convert it with ssh-keygen -p first');
  }
  out(`Key has comment '${key.comment}'`);
  const passphrase = opts.newPassphrase ?? (await askNewPassphrase(prompter, 'Enter new passphrase (empty for no passphrase): '));
  const text = encodePrivateKey({ publicBlob: key.publicBlob, privateFields: key.privateFields, comment: key.comment }, { passphrase });
  try {
    await replaceFile(file, text, PRIVATE_KEY_MODE);
  } catch (err) {
    throw fileErrorFor('write', file, err);
  }
  out('Your identification has been saved with the new passphrase.');
  return 0;
}

function algorithmOf(opts: KeygenOptions): KeyAlgorithm {
  const type = (opts.type ?? 'ed25519').toLowerCase();
  if (!(KEY_ALGORITHMS as readonly string[]).includes(type)) {
    throw new UsageError(`unknown key type "${opts.type}": use ${KEY_ALGORITHMS.join(', ')}`);
  }
  return type as KeyAlgorithm;
}

/** Without --force: ask at a terminal, else refuse. Returns whether to overwrite. */
async function confirmOverwrite(file: string, opts: KeygenOptions, prompter: Prompter): Promise<boolean> {
  if (opts.force) return true;
  const existing = await findExistingKeyFiles(file).catch((err) => {
    throw fileErrorFor('read', file, err);
  });
  if (existing.length === 0) return false;
  const refuse = fileErrorFor('write', file, new KeyFileExistsError(existing[0]!));
  if (!prompter.interactive) throw refuse;
  const answer = await prompter.ask(`${existing[0]} already exists.\nOverwrite (y/n)? `).catch(() => 'n');
  if (!/^y/i.test(answer.trim())) throw refuse;
  return true;
}

async function generatePair(opts: KeygenOptions, prompter: Prompter): Promise<number> {
  const algorithm = algorithmOf(opts);
  const bits = algorithm === 'ed25519' ? DEFAULT_BITS.ed25519 : (opts.bits ?? DEFAULT_BITS[algorithm]);
  const badBits = describeBadBits(algorithm, bits);
  if (badBits) throw new UsageError(`invalid -b ${bits}: ${badBits}`);
  if (opts.newPassphrase === undefined && !prompter.interactive) {
    throw new UsageError('no terminal to ask for a passphrase on: give one with -N ("" for none)');
  }
  const file = opts.file ?? path.join(os.homedir(), '.ssh', `id_${algorithm}`);
  const comment = opts.comment ?? defaultComment();
  const say = opts.quiet ? () => undefined : out;

  say(`Generating public/private ${algorithm} key pair.`);
  const force = await confirmOverwrite(file, opts, prompter);
  const passphrase = opts.newPassphrase ?? (await askNewPassphrase(prompter, 'Enter passphrase (empty for no passphrase): '));
  const key = await generateKey(algorithm, bits);
  let createdDir: string | undefined;
  try {
    ({ createdDir } = await writeKeyPair({
      privatePath: file,
      privateText: encodePrivateKey({ ...key, comment }, { passphrase }),
      publicText: formatPublicKeyFile(key.publicBlob, comment),
      force,
    }));
  } catch (err) {
    throw fileErrorFor('write', file, err);
  }
  if (createdDir !== undefined) say(`Created directory '${createdDir}'.`);
  say(`Your identification has been saved in ${file}`);
  say(`Your public key has been saved in ${file}.pub`);
  say('The key fingerprint is:');
  say(`${fingerprintOf(key.publicBlob, opts.hash)} ${comment}`);
  say("The key's randomart image is:");
  say(randomartForKey(key.publicBlob, opts.hash));
  return 0;
}

export async function runKeygen(opts: KeygenOptions): Promise<number> {
  const modes = [opts.fingerprint && '-l', opts.printPublic && '-y', opts.changePassphrase && '-p'].filter(Boolean);
  if (modes.length > 1) throw new UsageError(`keygen: ${modes.join(' and ')} cannot be combined`);
  const prompter = createTtyPrompter({ verbose: 0, batch: false });
  if (opts.fingerprint) return showFingerprints(opts);
  if (opts.printPublic) return printPublicKey(opts, prompter);
  if (opts.changePassphrase) return changePassphrase(opts, prompter);
  return generatePair(opts, prompter);
}
