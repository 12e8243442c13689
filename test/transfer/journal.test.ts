// The partial-file journal and its note: the note (quick, never synced) is
// kept beside the journal, never in its place; loading merges the two when
// they speak of the same partial; removing removes both. And which ranges a
// note adds beyond the synced ones.
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DirJournalStore, MemoryJournalStore, mergeNote, type PartialJournal } from '../../src/transfer/journal.js';
import { unsyncedWrites } from '../../src/transfer/resume-check.js';

const journal = (done: PartialJournal['done'], written?: PartialJournal['written'], size = 100): PartialJournal => ({
  version: 1,
  source: { label: 'local', path: '/src', size, mtime: 5 },
  dest: { label: 'h', path: '/dst', partial: '/.dst.ferry-part' },
  chunk: 10,
  done,
  written,
});

let dir: string;
beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ferry-journal-'));
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

describe('mergeNote', () => {
  it('takes done from both (each was synced when saved) and written from the note', () => {
    expect(mergeNote(journal([[0, 20]]), journal([[0, 30]], [[0, 60]]))).toMatchObject({ done: [[0, 30]], written: [[0, 60]] });
    expect(mergeNote(journal([[0, 40]]), journal([[0, 30]], [[0, 60]]))).toMatchObject({ done: [[0, 40]], written: [[0, 60]] });
  });

  it('ignores a note about another source; a note alone stands for itself', () => {
    expect(mergeNote(journal([[0, 20]]), journal([[0, 30]], [[0, 60]], 99))).toEqual(journal([[0, 20]]));
    expect(mergeNote(undefined, journal([], [[0, 60]]))).toEqual(journal([], [[0, 60]]));
    expect(mergeNote(undefined, undefined)).toBeUndefined();
  });
});

describe('unsyncedWrites', () => {
  it('is what the note lists beyond the synced ranges', () => {
    expect(unsyncedWrites(journal([[0, 20], [40, 50]], [[0, 70]]))).toEqual([[20, 40], [50, 70]]);
    expect(unsyncedWrites(journal([[0, 20]], [[0, 20]]))).toEqual([]);
    expect(unsyncedWrites(journal([[0, 20]]))).toEqual([]);
    expect(unsyncedWrites(journal([], [[10, 30], [50, 60]]))).toEqual([[10, 30], [50, 60]]);
  });
});

describe.each([
  ['DirJournalStore', () => new DirJournalStore(path.join(dir, 'store'))],
  ['MemoryJournalStore', () => new MemoryJournalStore()],
])('%s', (_name, make) => {
  it('a note sits beside the journal, load merges them, remove removes both', async () => {
    const store = make();
    await store.save('k', journal([[0, 20]]));
    await store.note!('k', journal([[0, 20]], [[0, 50]]));
    expect(await store.load('k')).toMatchObject({ done: [[0, 20]], written: [[0, 50]] });
    await store.remove('k');
    expect(await store.load('k')).toBeUndefined();
  });
});

it('DirJournalStore: the note is a file of its own, not a second journal', async () => {
  const store = new DirJournalStore(path.join(dir, 'files'));
  await store.save('k', journal([[0, 20]]));
  await store.note('k', journal([[0, 20]], [[0, 50]]));
  expect((await fs.readdir(path.join(dir, 'files'))).sort()).toEqual(['k.json', 'k.note']);
  // A torn note is no note: the journal still loads.
  await fs.writeFile(path.join(dir, 'files', 'k.note'), '{"version":1,"sou');
  expect(await store.load('k')).toEqual(journal([[0, 20]]));
});
