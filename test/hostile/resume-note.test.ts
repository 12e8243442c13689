// Catalog 29: an upload cut by a dropped link, against a real sshd (which
// offers fsync@openssh.com, so the journal records only synced ranges and
// trails the copy). The last flush dies with the link; the note of what the
// server acknowledged since is what lets the rerun resume past the synced
// journal: it resumes from exactly what the note lists (checked against the
// source first), sends only the rest, and ends identical.
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { PartialJournal } from '../../src/transfer/journal.js';
import { RangeSet } from '../../src/transfer/ranges.js';
import { bytesSent, expectIdentical, jsonEvents, MiB, ofType } from '../support/hostile-checks.js';
import { scenario, startLink, startSourceFixture, stopSourceFixture, type SourceFixture } from '../support/hostile-link.js';

const SIZE = 48 * MiB + 123;
let fx: SourceFixture | undefined;

beforeAll(async () => {
  fx = await startSourceFixture('note', SIZE);
});
afterAll(() => stopSourceFixture(fx?.sd, fx?.work));

async function readState(stateDir: string, ext: string): Promise<PartialJournal | undefined> {
  const dir = path.join(stateDir, 'partials');
  const name = (await fs.readdir(dir).catch(() => [] as string[])).find((f) => f.endsWith(ext));
  return name ? (JSON.parse(await fs.readFile(path.join(dir, name), 'utf8')) as PartialJournal) : undefined;
}

const bytesIn = (ranges: [number, number][] | undefined) => new RangeSet(ranges ?? []).size;

it('29: upload cut at 75%: the rerun resumes from what the server acknowledged, past the synced journal', async () => {
  const { sd, work, src, digest } = fx!;
  const s = await scenario(sd, work, 'up');
  const dst = path.join(s.dir, 'copy.bin');
  const link = await startLink(sd, { cutAfterBytes: { up: Math.round(SIZE * 0.75) } });
  const r1 = await s.cp(['--json', '--retries', '0', '--connections', '1', ...link.args, src, `127.0.0.1:${dst}`]);
  await link.close();
  expect(r1.code, r1.stderr).toBe(3);
  const synced = bytesIn((await readState(s.stateDir, '.json'))?.done);
  const note = await readState(s.stateDir, '.note');
  const acknowledged = bytesIn(note?.written);
  expect(acknowledged, 'the note lists more than the synced journal').toBeGreaterThan(synced);

  const r2 = await s.cp(['--json', '-P', String(sd.port), src, `127.0.0.1:${dst}`]);
  expect(r2.code, r2.stderr).toBe(0);
  const [file] = ofType(jsonEvents(r2.stdout), 'file');
  expect(file.resumedFrom).toBe(acknowledged);
  expect(bytesSent(r2.stdout)).toBe(SIZE - acknowledged);
  await expectIdentical(dst, digest);
});
