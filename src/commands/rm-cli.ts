/** `ferry rm` options and help; the command itself is lazy-imported. */
import type { Command } from 'commander';
import { addRemoteOptions, readRemoteOptions } from './remote-flags.js';

export const RM_HELP = `
What it refuses, before removing anything (exit 2):
  "/", the login directory (host: or host:.), your home directory, any directory
  holding it, and operands ending in "." or "..".
What it never does:
  follow a symlink: a link is removed as a link; only what is listed as a
  directory is entered. It does not ask for confirmation: check with -n first.
  It expands no globs: each operand is one path.

Examples:
  ferry rm -n -r nas:backups/2026-11-01     # list what would go
  ferry rm -r nas:backups/2026-11-01        # remove that snapshot

Exit codes:
  0    everything named was removed
  1    something could not be removed (or was missing, without -f); the rest was
  2    usage error, or an operand it refuses; nothing was removed
  3    connection or protocol error
  4    authentication or host-key failure
  130  interrupted (Ctrl-C)`;

export function registerRm(program: Command, run: { signal: AbortSignal }): void {
  addRemoteOptions(program
    .command('rm')
    .summary('remove files or directory trees on a host over SFTP (prune old snapshots)')
    .description('Remove files, and with -r directories and everything in them, on a host (or locally), over ' +
      'SFTP, never through a remote shell. Meant for pruning old `ferry sync --link-dest` snapshots.')
    .usage('[options] [user@]host:path...')
    .argument('<paths...>')
    .option('-r', 'remove directories and their contents recursively')
    .option('-f', 'ignore paths that do not exist')
    .option('-n, --dry-run', 'print what would be removed, remove nothing')
    .option('-q', 'quiet: no notices from the SSH layer (the server\'s banner); errors still go to stderr'))
    .addHelpText('after', RM_HELP)
    .action(async (paths: string[], opts: Record<string, unknown>) => {
      const { runRm } = await import('./rm.js');
      process.exitCode = await runRm(paths, {
        ...readRemoteOptions(opts, run.signal),
        recursive: Boolean(opts.r),
        force: Boolean(opts.f),
        dryRun: Boolean(opts.dryRun),
        quiet: Boolean(opts.q),
      });
    });
}
