/**
 * `ferry sync` options and help. Only commander here: the engine is
 * lazy-imported when the command runs, so `--help` stays instant.
 */
import type { Command } from 'commander';
import { addRemoteOptions, intArg, readRemoteOptions } from './remote-flags.js';
import type { RuleSpec } from './sync.js';

export const SYNC_EXIT_CODES_HELP = `
Exit codes:
  0    success: the target mirrors the source
  1    some files failed, the source listing had errors, or --max-delete stopped the deletions
  2    usage error (bad option or operands)
  3    connection or protocol error
  4    authentication or host-key failure
  24   some source files vanished during the run (everything else succeeded)
  130  interrupted (Ctrl-C); run the same command again to finish`;

export function registerSync(program: Command, run: { signal: AbortSignal }): void {
  // --include/--exclude/--exclude-from keep their command-line order: the first matching rule wins.
  const rules: RuleSpec[] = [];
  const rule = (type: RuleSpec['type']) => (v: string) => {
    rules.push(type === 'exclude-from' ? { type, file: v } : { type, pattern: v });
    return rules;
  };
  addRemoteOptions(program
    .command('sync')
    .summary('mirror a directory to or from a host, like rsync -a SRC/ DST/')
    .description('Make TARGET a mirror of the contents of SOURCE (like `rsync -a SOURCE/ TARGET/`, whether or ' +
      'not SOURCE ends in "/"), sending only files whose size or mtime differ. Either side may be local or ' +
      'remote (operands as in ferry cp); TARGET is created if missing. Times and modes are preserved; ' +
      'symlinks and special files are skipped with a warning. Every byte moves over SFTP.\n\n' +
      'Filters: --include/--exclude PATTERN, first match wins. "*.log" matches a name at any depth, "dir/" ' +
      'only directories, "/top" is anchored at SOURCE, "a/**/b" matches paths; an excluded directory is not ' +
      'entered. Excluded target files are never deleted.')
    .usage('[options] SOURCE TARGET')
    .argument('<source>')
    .argument('<target>')
    .option('-n, --dry-run', 'change nothing; print what would change')
    .option('--delete', 'remove target files absent from the source (after a successful transfer)')
    .option('--max-delete <n>', 'with --delete: if more than N would go, delete nothing and fail', intArg('max-delete', 0, 1e9))
    .option('--checksum', 'compare same-size files by content (sha256 of both sides) instead of mtime')
    .option('-u, --update', 'skip files that are newer on the target')
    .option('--ignore-existing', 'skip files that already exist on the target')
    .option('--link-dest <dir>', 'hard-link files unchanged since DIR\'s copy (a snapshot on the target\'s side; relative to TARGET) instead of sending them')
    .option('--include <pattern>', 'include paths matching PATTERN (repeatable)', rule('include'))
    .option('--exclude <pattern>', 'exclude paths matching PATTERN (repeatable)', rule('exclude'))
    .option('--exclude-from <file>', 'read exclude patterns from FILE ("+ pat" includes, "#" comments)', rule('exclude-from'))
    .option('--itemize', 'print one line per change: "+ new", "~ changed", "- deleted" (directories end in "/")')
    .option('--verify', 'after sending, hash both sides of every sent file; a mismatch is sent again once, then fails')
    .option('--json', 'write NDJSON events to stdout for scripts')
    .option('--log-file <file>', 'append one line per action, with a timestamp, to FILE')
    .option('-q', 'quiet: no progress, no summary; errors still go to stderr'))
    .addHelpText('after', SYNC_EXIT_CODES_HELP)
    .action(async (source: string, target: string, opts: Record<string, unknown>) => {
      const { runSync } = await import('./sync.js');
      process.exitCode = await runSync([source, target], {
        dryRun: Boolean(opts.dryRun),
        delete: Boolean(opts.delete),
        maxDelete: opts.maxDelete as number | undefined,
        checksum: Boolean(opts.checksum),
        update: Boolean(opts.update),
        ignoreExisting: Boolean(opts.ignoreExisting),
        linkDest: opts.linkDest as string | undefined,
        rules,
        itemize: Boolean(opts.itemize),
        verify: Boolean(opts.verify),
        json: Boolean(opts.json),
        logFile: opts.logFile as string | undefined,
        quiet: Boolean(opts.q),
        ...readRemoteOptions(opts, run.signal),
      });
    });
}
