/**
 * `npm run demo`: ferry's main job on an embedded default. Starts a throwaway
 * SFTP server in this process on 127.0.0.1 with a fresh host key, pins that
 * key in a temporary known_hosts, runs the real `bin/ferry cp -r` up and down
 * and checks every file by sha256. Touches nothing in ~/.ssh.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { generateKey } from './keys/generate.js';
import { encodePrivateKey } from './keys/openssh-format.js';
import { formatPublicKey } from './keys/public-key.js';
import { startEmbeddedServer } from './embedded/sftp-server.js';

const ferryBin = fileURLToPath(new URL('../bin/ferry', import.meta.url));

async function makeKey(comment: string): Promise<{ private: string; public: string }> {
  const key = await generateKey('ed25519');
  return {
    private: encodePrivateKey({ publicBlob: key.publicBlob, privateFields: key.privateFields, comment }),
    public: formatPublicKey(key.publicBlob, comment).trim(),
  };
}

async function makeSample(dir: string): Promise<void> {
  await mkdir(`${dir}/photos/2026`, { recursive: true });
  await mkdir(`${dir}/empty`, { recursive: true });
  await writeFile(`${dir}/notes.txt`, 'ferry demo: every byte over SFTP\n');
  await writeFile(`${dir}/archive.bin`, randomBytes(24 * 1024 * 1024 + 123));
  await writeFile(`${dir}/photos/2026/a photo with spaces.jpg`, randomBytes(3 * 1024 * 1024));
  await writeFile(`${dir}/photos/ünïcode.txt`, randomBytes(777));
  await writeFile(`${dir}/zero-bytes`, '');
}

async function hashTree(dir: string, prefix = ''): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const rel = prefix + e.name;
    if (e.isDirectory()) for (const [k, v] of await hashTree(`${dir}/${e.name}`, `${rel}/`)) out.set(k, v);
    else out.set(rel, createHash('sha256').update(await readFile(`${dir}/${e.name}`)).digest('hex'));
  }
  return out;
}

function runFerry(args: string[], stateDir: string): Promise<number> {
  process.stdout.write(`\n$ ferry ${args.join(' ')}\n`);
  return new Promise((resolve) => {
    const env = { ...process.env };
    delete env.SSH_AUTH_SOCK; // Only the demo key, never the user's agent.
    env.FERRY_STATE_DIR = stateDir; // Resume journals stay in the demo's temp dir too.
    const child = spawn(process.execPath, [ferryBin, ...args], { stdio: 'inherit', env });
    child.on('close', (code) => resolve(code ?? 1));
  });
}

async function main(): Promise<number> {
  const work = await mkdtemp(`${tmpdir()}/ferry-demo-`);
  try {
    // ferry's own key generation (src/keys), also what `ferry keygen` writes.
    const hostKey = await makeKey('ferry-demo-host');
    const clientKey = await makeKey('ferry-demo');
    await writeFile(`${work}/client_key`, clientKey.private, { mode: 0o600 });
    await mkdir(`${work}/server-root`);
    const server = await startEmbeddedServer({ root: `${work}/server-root`, hostKey: hostKey.private, authorizedKey: clientKey.public });
    try {
      const pin = `[${server.host}]:${server.port} ${hostKey.public.split(' ').slice(0, 2).join(' ')}\n`;
      await writeFile(`${work}/known_hosts`, pin);
      process.stdout.write(`Embedded SFTP server on ${server.host}:${server.port}, host key pinned in ${work}/known_hosts\n`);
      await makeSample(`${work}/sample`);

      const ssh = ['-F', '/dev/null', '-i', `${work}/client_key`, '-o', `UserKnownHostsFile=${work}/known_hosts`,
        '-o', 'GlobalKnownHostsFile=/dev/null', '-o', 'BatchMode=yes', '-P', String(server.port)];
      const remote = `demo@${server.host}:/uploaded`;
      if ((await runFerry(['cp', '-r', ...ssh, `${work}/sample`, remote], `${work}/state`)) !== 0) return 1;
      if ((await runFerry(['cp', '-r', ...ssh, remote, `${work}/downloaded`], `${work}/state`)) !== 0) return 1;

      const want = await hashTree(`${work}/sample`);
      const onServer = await hashTree(`${work}/server-root/uploaded`);
      const back = await hashTree(`${work}/downloaded`);
      process.stdout.write('\nsha256 check (source = server = downloaded):\n');
      let ok = want.size === back.size && want.size === onServer.size;
      for (const [name, sum] of want) {
        const same = onServer.get(name) === sum && back.get(name) === sum;
        ok &&= same;
        process.stdout.write(`  ${same ? 'ok  ' : 'DIFF'} ${sum.slice(0, 16)}…  ${name}\n`);
      }
      process.stdout.write(ok ? `\nAll ${want.size} files identical after the round trip.\n` : '\nMISMATCH: see above.\n');
      return ok ? 0 : 1;
    } finally {
      await server.close();
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

main().then(
  (code) => (process.exitCode = code),
  (err) => {
    process.stderr.write(`demo: ${(err as Error).message}\n`);
    process.exitCode = 1;
  },
);
