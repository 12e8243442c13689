// Host trust decisions: known/unknown/changed/revoked/CA-only keys under each
// StrictHostKeyChecking value, with and without someone to ask; and the rekey
// rule (every later key must equal the first). Real keys from ssh-keygen, real
// known_hosts files; the prompter is a script of answers.
import { execFile } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HostKeyError } from '../../src/errors.js';
import { resolveHost, type StrictMode } from '../../src/ssh/config.js';
import { createHostVerifier, preferredHostKeyAlgorithms, verifyHostKey } from '../../src/ssh/host-verify.js';
import { readKnownHosts, checkHostKey } from '../../src/ssh/known-hosts.js';
import { scriptedPrompter } from '../support/prompter.js';
import { keyBlob, publicKey } from '../support/cp-helpers.js';

const execFileP = promisify(execFile);
let dir: string;
let hostKey: [string, string];
let otherKey: [string, string];
let rsaKey: [string, string];
const NAME = '[127.0.0.1]:2222';

const keygen = (name: string, type: string) => publicKey(dir, name, type);
const blob = keyBlob;

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ferry-host-verify-'));
  [hostKey, otherKey, rsaKey] = await Promise.all([keygen('host', 'ed25519'), keygen('other', 'ed25519'), keygen('rsa', 'rsa')]);
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

const scripted = (interactive: boolean, answers: string[] = []) => scriptedPrompter(answers, interactive);

let n = 0;
async function setup(lines: string[], opts: string[] = []) {
  const kh = path.join(dir, `kh${n++}`);
  await fs.writeFile(kh, lines.map((l) => `${l}\n`).join(''));
  const s = resolveHost('127.0.0.1', undefined, {
    configFile: 'none', port: 2222, options: [`UserKnownHostsFile=${kh}`, 'GlobalKnownHostsFile=none', ...opts],
  });
  return { kh, s };
}

const line = (k: [string, string], host = NAME) => `${host} ${k[0]} ${k[1]}`;

describe('the matrix: what known_hosts says x StrictHostKeyChecking x a terminal or not', () => {
  const modes: StrictMode[] = ['yes', 'ask', 'accept-new', 'no'];

  for (const mode of modes) {
    for (const tty of [true, false]) {
      it(`known key: accepted silently (${mode}, ${tty ? 'tty' : 'no tty'})`, async () => {
        const { s } = await setup([line(otherKey), line(hostKey)], [`StrictHostKeyChecking=${mode}`]);
        const sp = scripted(tty);
        expect((await verifyHostKey(s, blob(hostKey), sp.prompter)).ok).toBe(true);
        expect(sp.asked).toEqual([]);
      });

      it(`changed key: refused, naming file:line (${mode}, ${tty ? 'tty' : 'no tty'})`, async () => {
        const { kh, s } = await setup(['# first line', line(otherKey)], [`StrictHostKeyChecking=${mode}`]);
        const sp = scripted(tty, ['yes']);
        const r = await verifyHostKey(s, blob(hostKey), sp.prompter);
        expect(r.ok).toBe(false);
        expect(r.error).toBeInstanceOf(HostKeyError);
        expect(sp.asked).toEqual([]);
        expect(sp.warned.join('\n')).toContain('REMOTE HOST IDENTIFICATION HAS CHANGED');
        expect(sp.warned.join('\n')).toContain(`Offending ED25519 key in ${kh}:2`);
        expect(await fs.readFile(kh, 'utf8')).toBe(`# first line\n${line(otherKey)}\n`);
      });

      it(`revoked key: refused even when also listed as known (${mode}, ${tty ? 'tty' : 'no tty'})`, async () => {
        const { s } = await setup([line(hostKey), `@revoked * ${hostKey[0]} ${hostKey[1]}`], [`StrictHostKeyChecking=${mode}`]);
        const sp = scripted(tty, ['yes']);
        const r = await verifyHostKey(s, blob(hostKey), sp.prompter);
        expect(r.ok).toBe(false);
        expect(r.error?.message).toMatch(/revoked/);
        expect(sp.asked).toEqual([]);
      });

      it(`key known only through @cert-authority: refused clearly (${mode}, ${tty ? 'tty' : 'no tty'})`, async () => {
        const { kh, s } = await setup([`@cert-authority *.0.0.1,[127.0.0.1]:* ${otherKey[0]} ${otherKey[1]}`], [`StrictHostKeyChecking=${mode}`]);
        const sp = scripted(tty, ['yes']);
        const r = await verifyHostKey(s, blob(hostKey), sp.prompter);
        expect(r.ok).toBe(false);
        expect(r.error?.message).toContain('host certificates are not supported');
        expect(r.error?.message).toContain(`${kh}:1`);
        expect(sp.asked).toEqual([]);
      });

      it(`unknown key (${mode}, ${tty ? 'tty' : 'no tty'})`, async () => {
        const { kh, s } = await setup([], [`StrictHostKeyChecking=${mode}`]);
        const sp = scripted(tty, ['yes']);
        const r = await verifyHostKey(s, blob(hostKey), sp.prompter);
        const recorded = checkHostKey(await readKnownHosts([kh]), NAME, hostKey[0], blob(hostKey)).status === 'match';
        const expectOk = mode === 'no' || mode === 'accept-new' || (mode === 'ask' && tty);
        expect(r.ok).toBe(expectOk);
        expect(recorded).toBe(expectOk);
        expect(sp.asked.length).toBe(mode === 'ask' && tty ? 1 : 0);
        if (mode === 'ask' && tty) expect(sp.asked[0]).toContain(`The authenticity of host '${NAME}`);
        if (!expectOk) expect(r.error).toBeInstanceOf(HostKeyError);
      });
    }
  }

  it('ask: "no" refuses and records nothing; the fingerprint typed back accepts', async () => {
    const { kh, s } = await setup([]);
    const declined = scripted(true, ['no']);
    expect((await verifyHostKey(s, blob(hostKey), declined.prompter)).ok).toBe(false);
    expect(await fs.readFile(kh, 'utf8')).toBe('');
    const fp = /SHA256:[A-Za-z0-9+/]+/.exec(declined.asked[0])![0];
    const typed = scripted(true, ['maybe', fp]);
    expect((await verifyHostKey(s, blob(hostKey), typed.prompter)).ok).toBe(true);
    expect(typed.asked[1]).toMatch(/Please type 'yes', 'no' or the fingerprint/);
  });

  it('ask with BatchMode never asks', async () => {
    const { s } = await setup([], ['BatchMode=yes']);
    const sp = scripted(true, ['yes']);
    expect((await verifyHostKey(s, blob(hostKey), sp.prompter)).ok).toBe(false);
    expect(sp.asked).toEqual([]);
  });
});

describe('recording and names', () => {
  it('HashKnownHosts=yes writes a hashed entry that ssh-keygen -F finds', async () => {
    const { kh, s } = await setup([], ['StrictHostKeyChecking=accept-new', 'HashKnownHosts=yes']);
    expect((await verifyHostKey(s, blob(hostKey), scripted(false).prompter)).ok).toBe(true);
    const text = await fs.readFile(kh, 'utf8');
    expect(text).toMatch(/^\|1\|[^ ]+ ssh-ed25519 /);
    expect(text).not.toContain('127.0.0.1');
    expect((await execFileP('ssh-keygen', ['-F', NAME, '-f', kh])).stdout).toContain(hostKey[1]);
  });

  it('HostKeyAlias is the name looked up and recorded', async () => {
    const { s } = await setup([line(otherKey, 'nick')], ['HostKeyAlias=nick']);
    expect((await verifyHostKey(s, blob(hostKey), scripted(false).prompter)).ok).toBe(false);
    const { s: s2 } = await setup([line(hostKey, 'nick')], ['HostKeyAlias=nick']);
    expect((await verifyHostKey(s2, blob(hostKey), scripted(false).prompter)).ok).toBe(true);
    const { kh, s: s3 } = await setup([], ['HostKeyAlias=nick', 'StrictHostKeyChecking=accept-new']);
    expect((await verifyHostKey(s3, blob(hostKey), scripted(false).prompter)).ok).toBe(true);
    expect(await fs.readFile(kh, 'utf8')).toBe(`${line(hostKey, 'nick')}\n`);
  });

  it('several keys for one host: any of them matches; another type is unknown, not changed', async () => {
    const { s } = await setup([line(otherKey), line(rsaKey), line(hostKey)], ['StrictHostKeyChecking=yes']);
    expect((await verifyHostKey(s, blob(hostKey), scripted(false).prompter)).ok).toBe(true);
    const { s: s2 } = await setup([line(rsaKey)], ['StrictHostKeyChecking=yes']);
    const r = await verifyHostKey(s2, blob(hostKey), scripted(false).prompter);
    expect(r.error?.message).toMatch(/no ED25519 host key is known/);
  });

  it('known key types are offered first, so a known host presents its known key', async () => {
    const { s } = await setup([line(rsaKey)]);
    const algs = await preferredHostKeyAlgorithms(s);
    expect(algs!.slice(0, 3)).toEqual(['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa']);
    expect(algs).toContain('ssh-ed25519');
    const { s: unknown } = await setup([]);
    expect(await preferredHostKeyAlgorithms(unknown)).toBeUndefined();
    const { s: explicit } = await setup([line(rsaKey)], ['HostKeyAlgorithms=ssh-ed25519']);
    expect(await preferredHostKeyAlgorithms(explicit)).toEqual(['ssh-ed25519']);
  });
});

describe('createHostVerifier: rekeys re-check the key', () => {
  function run(v: ReturnType<typeof createHostVerifier>, key: Buffer): Promise<boolean> {
    return new Promise((resolve) => v.hostVerifier(key, resolve));
  }

  it('the first key goes through known_hosts; later ones must be the same key', async () => {
    const { s } = await setup([line(hostKey)]);
    const sp = scripted(false);
    const v = createHostVerifier(s, sp.prompter);
    let firstKeySeen = 0;
    v.onFirstKey = () => firstKeySeen++;
    expect(await run(v, blob(hostKey))).toBe(true);
    expect(await run(v, blob(hostKey))).toBe(true);
    expect(sp.debugged.some((d) => /Rekey: the host key .* is unchanged/.test(d))).toBe(true);
    expect(v.error).toBeUndefined();
    expect(await run(v, blob(otherKey))).toBe(false);
    expect(v.error).toBeInstanceOf(HostKeyError);
    expect(v.error?.message).toMatch(/changed during the session \(rekey\)/);
    expect(firstKeySeen).toBe(1);
  });

  it('a refused first key stays refused, and its reason is kept', async () => {
    const { s } = await setup([line(otherKey)]);
    const v = createHostVerifier(s, scripted(false).prompter);
    expect(await run(v, blob(hostKey))).toBe(false);
    expect(v.error?.message).toMatch(/has changed/);
  });
});
