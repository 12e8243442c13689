/**
 * Host key verification: every connection (and every rekey) goes through
 * here. ssh2 accepts any key unless given a hostVerifier, so this is all of
 * ferry's host trust.
 */
import { HostKeyError } from '../errors.js';
import { keyTypeLabel, keyTypeOfBlob, sha256Fingerprint } from '../keys/fingerprint.js';
import type { HostSettings } from './config.js';
import { appendKnownHost, checkHostKey, hostKeyName, readKnownHosts } from './known-hosts.js';
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
  for (;;) {
    if (answer === 'yes' || answer === fp) return true;
    if (answer === 'no') return false;
    answer = (await prompter.ask("Please type 'yes', 'no' or the fingerprint: ")).trim();
  }
}

/**
 * Decide whether to trust `keyBlob` for this host. Known keys pass; a changed
 * or revoked key never does; an unknown key is asked about, accepted, or
 * refused according to StrictHostKeyChecking.
 */
export async function verifyHostKey(s: HostSettings, keyBlob: Buffer, prompter: Prompter): Promise<HostVerifyResult> {
  const name = hostKeyName(s.hostName, s.port);
  const keyType = keyTypeOfBlob(keyBlob);
  const label = keyTypeLabel(keyType);
  const fp = sha256Fingerprint(keyBlob);
  prompter.debug(`Server host key: ${keyType} ${fp}`);
  const entries = await readKnownHosts([...s.userKnownHostsFiles, ...s.globalKnownHostsFiles]);
  const found = checkHostKey(entries, name, keyType, keyBlob);
  const refuse = (msg: string, hint?: string): HostVerifyResult => ({ ok: false, error: new HostKeyError(msg, { hint }) });

  switch (found.status) {
    case 'match':
      prompter.debug(`Host '${name}' is known and matches the ${label} host key (${found.entry.file}:${found.entry.line}).`);
      return { ok: true };
    case 'revoked':
      prompter.warn(`@@@ WARNING: REVOKED HOST KEY DETECTED! @@@\nThe ${label} host key for ${name} is marked as revoked (${found.entry.file}:${found.entry.line}).`);
      return refuse(`host key verification failed for ${name}: the ${label} key is revoked`);
    case 'mismatch':
      if (s.strictHostKeyChecking === 'no') {
        // OpenSSH with StrictHostKeyChecking=no still refuses a changed key for password-less safety
        // only in some modes; ferry refuses always: the user's data is at stake.
      }
      prompter.warn(changedWarning(name, label, fp, found.entry.file, found.entry.line));
      return refuse(`host key verification failed: the ${label} key of ${name} has changed (${found.entry.file}:${found.entry.line})`,
        `if the change is expected, remove the old key with: ssh-keygen -R '${name}' -f ${found.entry.file}`);
    case 'unknown':
      break;
  }

  const record = async () => {
    const file = s.userKnownHostsFiles[0];
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
