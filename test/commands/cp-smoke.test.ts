import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, writeFile, rm, readFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { startSshd, type Sshd, sha256File } from '../support/sshd.js';
import { runFerry } from '../support/run-ferry.js';

let sd: Sshd;
let work: string;
beforeAll(async () => {
  sd = await startSshd();
  work = await mkdtemp(`${tmpdir()}/ferry-smoke-`);
});
afterAll(async () => {
  await sd?.stop();
  await rm(work, { recursive: true, force: true });
});

describe('smoke', () => {
  it('uploads and downloads a 10 MiB file', async () => {
    const src = `${work}/a.bin`;
    await writeFile(src, randomBytes(10 * 1024 * 1024 + 7));
    const up = await runFerry(['cp', '-P', String(sd.port), src, `127.0.0.1:${work}/b.bin`], { env: sd.env });
    expect(up.stderr).toBe('');
    expect(up.code).toBe(0);
    const down = await runFerry(['cp', '-P', String(sd.port), `127.0.0.1:${work}/b.bin`, `${work}/c.bin`], { env: sd.env });
    expect(down.code).toBe(0);
    expect(await sha256File(`${work}/c.bin`)).toBe(await sha256File(src));
  });
});
