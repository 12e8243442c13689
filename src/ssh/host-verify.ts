/**
 * Host key verification: every connection (and every rekey) goes through
 * here. ssh2 accepts any key unless given a hostVerifier, so this is all of
 * ferry's host trust.
 */
import { HostKeyError } from '../errors.js';
import { keyTypeLabel, keyTypeOfBlob, sha256Fingerprint } from '../keys/fingerprint.js';
import type { HostSettings } from './config.js';
import { defaultAlgorithms, hostKeyAlgorithmsForKeyType } from './algorithms.js';
import { appendKnownHost, certAuthoritiesFor, checkHostKey, hostKeyName, knownKeyTypes, readKnownHosts } from './known-hosts.js';
import type { Prompter } from './prompter.js';

export interface HostVerifyResult {
  ok: boolean;
  error?: HostKeyError;
}

function changedWarning(name: string, label: string, fp: string, file: string, line: number): string {
  return [
    '@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@',
    '@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @',
    '@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@',
    'IT IS POSSIBLE THAT SOMEONE IS DOING SOMETHING NASTY!',
    'Someone could be eavesdropping on you right now (man-in-the-middle attack)!',
    'It is also possible that a host key has just been changed.',
    `The fingerprint for the ${label} key sent by the remote host is`,
    `${fp}.`,
    'Please contact your system administrator.',
    `Add correct host key in ${file} to get rid of this message.`,
    `Offending ${label} key in ${file}:${line}`,
    `Host key for ${name} has changed and you have requested strict checking.`,
  ].join('\n');
}

/** Ask as OpenSSH does; accepts yes, or the fingerprint itself typed back. */
async function askUnknown(prompter: Prompter, name: string, label: string, fp: string): Promise<boolean> {
  const question =
    `The authenticity of host '${name} (${name})' can't be established.\n` +
    `${label} key fingerprint is ${fp}.\n` +
    'This key is not known by any other names.\n' +
    'Are you sure you want to continue connecting (yes/no/[fingerprint])? ';
  let answer = (await prompter.ask(question)).trim();
  // A few tries: an askpass program answering nonsense must not loop forever.
  for (let tries = 0; tries < 5; tries++) {
    if (answer === 'yes' || answer === fp) return true;
    if (answer === 'no') return false;
    answer = (await prompter.ask("Please type 'yes', 'no' or the fingerprint: ")).trim();
  }
  return false;
}

/** The name known_hosts files this host under: HostKeyAlias, else host or [host]:port. */
export function knownHostsName(s: HostSettings): string {
  return s.hostKeyAlias ?? hostKeyName(s.hostName, s.port);
}

function knownHostsFiles(s: HostSettings): string[] {
  return [...s.userKnownHostsFiles, ...s.globalKnownHostsFiles];
}

/**
 * Host key algorithms to offer when none are configured: ssh2's defaults, with
 * those able to present a key type already on file for this host moved first
 * (as OpenSSH does), so a known host is not met with a key of another type.
 */
export async function preferredHostKeyAlgorithms(s: HostSettings): Promise<string[] | undefined> {
  if (s.algorithms.serverHostKey) return s.algorithms.serverHostKey;
  const types = knownKeyTypes(await readKnownHosts(knownHostsFiles(s)), knownHostsName(s));
  if (types.length === 0) return undefined;
  const defaults = defaultAlgorithms('serverHostKey');
  const first = types.flatMap(hostKeyAlgorithmsForKeyType).filter((a) => defaults.includes(a));
  return [...first, ...defaults.filter((a) => !first.includes(a))];
}

/**
 * Decide whether to trust `keyBlob` for this host. Known keys pass; a changed
 * or revoked key never does; an unknown key is asked about, accepted, or
 * refused according to StrictHostKeyChecking.
 */
export async function verifyHostKey(s: HostSettings, keyBlob: Buffer, prompter: Prompter): Promise<HostVerifyResult> {
  const name = knownHostsName(s);
  const keyType = keyTypeOfBlob(keyBlob);
  const label = keyTypeLabel(keyType);
  const fp = sha256Fingerprint(keyBlob);
  prompter.debug(`Server host key: ${keyType} ${fp}`);
  const entries = await readKnownHosts(knownHostsFiles(s));
  const found = checkHostKey(entries, name, keyType, keyBlob);
  const refuse = (msg: string, hint?: string): HostVerifyResult => ({ ok: false, error: new HostKeyError(msg, { hint }) });

  switch (found.status) {
    case 'match':
      prompter.debug(`Host '${name}' is known and matches the ${label} host key (${found.entry.file}:${found.entry.line}).`);
      return { ok: true };
    case 'revoked':
      prompter.warn([
        '@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@',
        '@       WARNING: REVOKED HOST KEY DETECTED!               @',
        '@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@',
        `The ${label} host key for ${name} is marked as revoked (${found.entry.file}:${found.entry.line}).`,
        'This could mean that a stolen key is being used to',
        'impersonate this host.',
      ].join('\n'));
      return refuse(`host key verification failed for ${name}: the ${label} key is revoked`);
    case 'mismatch':
      // OpenSSH with StrictHostKeyChecking=no goes on with only some auth methods disabled;
      // ferry refuses a changed key in every mode: the user's files are at stake.
      prompter.warn(changedWarning(name, label, fp, found.entry.file, found.entry.line));
      return refuse(`host key verification failed: the ${label} key of ${name} has changed (${found.entry.file}:${found.entry.line})`,
        `if the change is expected, remove the old key with: ssh-keygen -R '${name}' -f ${found.entry.file}`);
    case 'unknown': {
      const cas = certAuthoritiesFor(entries, name);
      if (cas.length > 0) {
        // The user trusts this host through a CA; offering to pin a bare key would sidestep that.
        return refuse(`host key verification failed for ${name}: known_hosts trusts it only through a certificate authority ` +
          `(@cert-authority at ${cas[0].file}:${cas[0].line}), and host certificates are not supported by ferry`,
          `add the host's plain key to ${s.userKnownHostsFiles[0] ?? 'a known_hosts file'} (e.g. ssh-keyscan -p ${s.port} ${s.hostName})`);
      }
      break;
    }
  }

  const record = async () => {
    const file = s.userKnownHostsFiles[0];
    if (file === undefined) {
      prompter.warn(`Warning: '${name}' (${label}) was not recorded: UserKnownHostsFile is none.`);
      return;
    }
    try {
      await appendKnownHost(file, name, keyType, keyBlob, s.hashKnownHosts);
      prompter.warn(`Warning: Permanently added '${name}' (${label}) to the list of known hosts.`);
    } catch (err) {
      prompter.warn(`Failed to add the host to the list of known hosts (${file}): ${(err as Error).message}`);
    }
  };

  switch (s.strictHostKeyChecking) {
    case 'no':
    case 'accept-new':
      await record();
      return { ok: true };
    case 'yes':
      return refuse(`host key verification failed: no ${label} host key is known for ${name} and you have requested strict checking`,
        `add it to ${s.userKnownHostsFiles[0]} (e.g. ssh-keyscan -p ${s.port} ${s.hostName}) or use -o StrictHostKeyChecking=accept-new`);
    case 'ask':
      if (s.batchMode || !prompter.interactive) {
        return refuse(`host key verification failed: ${name} is not a known host and there is no terminal to confirm its ${label} key ${fp}`,
          `connect once interactively, or add the key to ${s.userKnownHostsFiles[0]}, or use -o StrictHostKeyChecking=accept-new`);
      }
      if (await askUnknown(prompter, name, label, fp)) {
        await record();
        return { ok: true };
      }
      return refuse(`host key verification failed: you declined the ${label} key of ${name}`);
  }
}

/**
 * The hostVerifier for ssh2, called on the first key exchange and on every
 * rekey: the first key is checked against known_hosts (and maybe asked
 * about); every later one must be that same key.
 */
export function createHostVerifier(s: HostSettings, prompter: Prompter): {
  hostVerifier: (key: Buffer, verify: (ok: boolean) => void) => void;
  /** Why the last key was refused. */
  readonly error: HostKeyError | undefined;
  /** Called once the server's first key arrived (the server is alive). */
  onFirstKey?: () => void;
} {
  let accepted: Buffer | undefined;
  let error: HostKeyError | undefined;
  const self = {
    get error() {
      return error;
    },
    onFirstKey: undefined as (() => void) | undefined,
    hostVerifier: (key: Buffer, verify: (ok: boolean) => void) => {
      if (accepted) {
        const same = accepted.equals(key);
        if (same) prompter.debug(`Rekey: the host key of ${s.hostName} is unchanged`);
        else {
          error = new HostKeyError(`host key of ${knownHostsName(s)} changed during the session (rekey): ${sha256Fingerprint(key)}, ` +
            `was ${sha256Fingerprint(accepted)}`);
          prompter.warn(`@@@ WARNING: the host key of ${knownHostsName(s)} changed during a rekey; disconnecting. @@@`);
        }
        verify(same);
        return;
      }
      self.onFirstKey?.();
      verifyHostKey(s, key, prompter).then(
        (r) => {
          if (r.ok) accepted = Buffer.from(key);
          else error = r.error;
          verify(r.ok);
        },
        (err) => {
          error = new HostKeyError(`host key verification failed for ${s.hostName}: ${(err as Error).message}`, { cause: err });
          verify(false);
        },
      );
    },
  };
  return self;
}
