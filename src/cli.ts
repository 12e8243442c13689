/**
 * Command registration, and the one place errors become exit codes. Commands
 * lazy-import their engines so `--help` stays instant.
 */
import './util/started.js';
import { readFileSync } from 'node:fs';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { addRemoteOptions, collect, intArg, readRemoteOptions } from './commands/remote-flags.js';
import { ExitCode, FerryError, UsageError, exitCodeFor } from './errors.js';
import { registerRm } from './commands/rm-cli.js';
import { registerSync } from './commands/sync-cli.js';
import { escapeForTerminal } from './util/escape.js';

const EXIT_CODES_HELP = `
Exit codes:
  0    success
  1    some files failed (the others were copied)
  2    usage error (bad option or operands)
  3    connection or protocol error
  4    authentication or host-key failure
  24   sync only: some source files vanished during the run
  130  interrupted (Ctrl-C); run the same command again to finish`;

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

export function buildProgram(run: { signal: AbortSignal }): Command {
  const program = new Command('ferry')
    .description('Secure file transfer over SSH: scp\'s arguments, every byte over SFTP.')
    .version(version(), '-V, --version')
    .addHelpText('after', EXIT_CODES_HELP)
    .showSuggestionAfterError()
    .exitOverride();

  addRemoteOptions(program
    .command('cp')
    .summary('copy files between hosts, like scp')
    .description('Copy files between hosts, like scp, moving every byte over SFTP (never a remote shell).\n\n' +
      'Operands: path, [user@]host:path, host: (remote home), [user@][::1]:path,\n' +
      'scp://[user@]host[:port][/path]. A ":" after a "/" means a local path.\n' +
      'Remote globs (host:\'logs/*.gz\') are expanded by ferry over SFTP.')
    .usage('[options] SOURCE... TARGET')
    .argument('<operands...>')
    .option('-r', 'copy directories recursively')
    .option('-p', 'preserve modification/access times and modes (never setuid/setgid)')
    .option('-q', 'quiet: no progress bar, no non-error output')
    .option('-3', 'copy between two remote hosts through this machine (always the case)'))
    .option('--json', 'write NDJSON events to stdout for scripts')
    .addHelpText('after', EXIT_CODES_HELP)
    .action(async (operands: string[], opts: Record<string, unknown>) => {
      const { runCp } = await import('./commands/cp.js');
      process.exitCode = await runCp(operands, {
        ...readRemoteOptions(opts, run.signal),
        recursive: Boolean(opts.r),
        preserve: Boolean(opts.p),
        quiet: Boolean(opts.q),
        json: Boolean(opts.json),
      });
    });

  registerSync(program, run);
  registerRm(program, run);

  program
    .command('keygen')
    .summary('create an SSH key pair, or inspect one, like ssh-keygen')
    .description('Create an SSH key pair in OpenSSH format (default ed25519, in ~/.ssh/id_<type>), ' +
      'or with -l / -y / -p show the fingerprint, print the public key or change the passphrase ' +
      'of the key in -f FILE. -N and -P put secrets on the command line: prefer the prompt.')
    .addOption(new Option('-t <type>', 'key type').choices(['ed25519', 'ecdsa', 'rsa']))
    .option('-b <bits>', 'rsa: 2048-16384 (default 3072); ecdsa: 256, 384 or 521', intArg('bits', 1, 65536))
    .option('-C <comment>', 'comment (default user@host)')
    .option('-N <new_passphrase>', 'new passphrase, "" for none (asked on a terminal if omitted)')
    .option('-P <old_passphrase>', 'current passphrase, for -y and -p')
    .option('-f <file>', 'key file')
    .option('-q', 'quiet')
    .option('--force', 'replace an existing key pair')
    .option('-l', 'show the fingerprint of the key(s) in -f')
    .option('-E <hash>', 'fingerprint hash: sha256 or md5', (v: string) => {
      if (!/^(sha256|md5)$/i.test(v)) throw new InvalidArgumentError('must be sha256 or md5');
      return v.toLowerCase();
    }, 'sha256')
    .option('-v', 'with -l: also show the randomart')
    .option('-y', 'print the public key of the private key in -f')
    .option('-p', 'change the passphrase of the private key in -f')
    .addHelpText('after', '\nExit codes:\n  0    success\n  1    key file exists (without --force), unreadable, unwritable or wrong passphrase\n' +
      '  2    usage error\n  130  cancelled at a prompt (Ctrl-C)')
    .action(async (opts: Record<string, unknown>) => {
      const { runKeygen } = await import('./commands/keygen.js');
      process.exitCode = await runKeygen({
        type: opts.t as string | undefined, bits: opts.b as number | undefined, comment: opts.C as string | undefined,
        newPassphrase: opts.N as string | undefined, oldPassphrase: opts.P as string | undefined,
        file: opts.f as string | undefined, quiet: Boolean(opts.q), force: Boolean(opts.force),
        fingerprint: Boolean(opts.l), hash: opts.E as 'sha256' | 'md5', visual: Boolean(opts.v),
        printPublic: Boolean(opts.y), changePassphrase: Boolean(opts.p),
      });
    });

  program
    .command('copy-id')
    .summary('install your public key(s) in a server\'s authorized_keys, like ssh-copy-id')
    .description('Install public keys in ~/.ssh/authorized_keys on the server, like ssh-copy-id, over SFTP ' +
      '(never a remote shell), then log in with only the new key to check it works. Keys: -i FILE, ' +
      'else the ssh-agent\'s keys, else the newest ~/.ssh/id*.pub. Keys already there are skipped.')
    .usage('[options] [user@]host')
    .argument('[destination]', '[user@]host')
    .option('-i [identity_file]', 'install the key in FILE (or FILE.pub); a bare -i: the newest ~/.ssh/id*.pub, not the agent\'s')
    .option('-p <port>', 'port to connect to on the remote host', intArg('port', 1, 65535))
    .option('-o <ssh_option>', 'ssh_config option, e.g. -o Port=2222 (repeatable)', collect)
    .option('-F <ssh_config>', 'ssh_config file to read instead of ~/.ssh/config')
    .option('-n', 'dry run: print the key(s) that would be installed, change nothing')
    .option('-f', 'force: install the key(s) even if the server already has them')
    .addHelpText('after', '\nExit codes:\n  0    success (or nothing to add)\n' +
      '  1    key file unreadable, ~/.ssh or authorized_keys unusable (e.g. a symlink), or the new key does not log in\n' +
      '  2    usage error\n  3    connection or protocol error\n  4    authentication or host-key failure\n  130  interrupted (Ctrl-C)')
    .action(async (destination: string | undefined, opts: Record<string, unknown>) => {
      const { runCopyId } = await import('./commands/copy-id.js');
      let identity = opts.i as string | true | undefined;
      // As ssh-copy-id: in `-i user@host` the operand is the host, and -i has no file.
      if (destination === undefined && typeof identity === 'string') [destination, identity] = [identity, true];
      if (destination === undefined) throw new UsageError('copy-id needs a destination', { hint: 'ferry copy-id [-i [identity_file]] [-p port] [user@]host' });
      process.exitCode = await runCopyId(destination, {
        identity, port: opts.p as number | undefined, sshOptions: (opts.o as string[] | undefined) ?? [], configFile: opts.F as string | undefined,
        dryRun: Boolean(opts.n), force: Boolean(opts.f),
      });
    });

  program
    .command('ssh-config')
    .summary('print the SSH settings ferry resolves for a host, like ssh -G')
    .description('Print the settings ferry will use for HOST, resolved from the command line, -F or ' +
      '~/.ssh/config, and /etc/ssh/ssh_config, as lower-case "keyword value" lines like ssh -G.')
    .usage('[options] [user@]host')
    .argument('<destination>', '[user@]host')
    .option('-P <port>', 'port', intArg('port', 1, 65535))
    .option('-i <identity_file>', 'identity file (repeatable)', collect)
    .option('-o <ssh_option>', 'ssh_config option, e.g. -o Port=2222 (repeatable)', collect)
    .option('-F <ssh_config>', 'ssh_config file to read instead of ~/.ssh/config')
    .option('-J <destination>', 'jump host(s): [user@]host[:port][,...]')
    .option('-v', 'verbose: show which files and blocks were read', (_v: string, n: number) => n + 1, 0)
    .action(async (destination: string, opts: Record<string, unknown>) => {
      const { runSshConfig } = await import('./commands/ssh-config.js');
      process.exitCode = runSshConfig(destination, {
        configFile: opts.F as string | undefined, sshOptions: (opts.o as string[] | undefined) ?? [], port: opts.P as number | undefined,
        identity: (opts.i as string[] | undefined) ?? [], jump: opts.J as string | undefined, verbose: opts.v as number,
      });
    });

  program
    .command('completion')
    .summary('print a bash or zsh completion script to source')
    .description('Print a script that completes ferry\'s commands, options, local paths, host names from ' +
      'ssh_config and known_hosts, and remote paths (listed over SFTP in batch mode, at most 3 s).\n\n' +
      '  bash:  source <(ferry completion bash)     (add it to ~/.bashrc)\n' +
      '  zsh:   source <(ferry completion zsh)      (in ~/.zshrc, after compinit)')
    .argument('<shell>', 'bash or zsh')
    .action(async (shell: string) => {
      const { runCompletionScript } = await import('./commands/completion.js');
      process.exitCode = runCompletionScript(shell);
    });

  // What the completion scripts call at each TAB; not for people.
  program
    .command('__complete', { hidden: true })
    .argument('<shell>')
    .argument('[words...]')
    .allowUnknownOption()
    .helpOption(false)
    .action(async (shell: string, words: string[]) => {
      const { runComplete } = await import('./commands/completion.js');
      process.exitCode = await runComplete(program, shell, words);
    });

  return program;
}

function report(err: unknown, verbose: boolean): number {
  if (err instanceof CommanderError) {
    // Commander already printed help, the version or its own message.
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return ExitCode.ok;
    return ExitCode.usage;
  }
  const code = exitCodeFor(err);
  const msg = err instanceof Error ? err.message : String(err);
  const hint = err instanceof FerryError && err.hint ? `\nferry: hint: ${err.hint}` : '';
  process.stderr.write(`ferry: ${msg.split('\n').map(escapeForTerminal).join('\n')}${escapeForTerminal(hint).replace(/\\n/g, '\n')}\n`);
  if (verbose && err instanceof Error && err.stack) process.stderr.write(`${escapeForTerminal(err.stack).replace(/\\n/g, '\n')}\n`);
  return code;
}

/**
 * Nobody reads our output any more (`ferry sync --json | head`): stop at
 * once, as scp or rsync killed by SIGPIPE would. What is half copied stays a
 * partial file with its journal, as after kill -9.
 */
function onStdoutError(err: NodeJS.ErrnoException): void {
  if (err.code === 'EPIPE') process.exit(ExitCode.brokenPipe);
  throw err;
}

export async function main(argv: string[]): Promise<number> {
  const abort = new AbortController();
  const onSignal = () => {
    if (abort.signal.aborted) process.exit(ExitCode.interrupted);
    abort.abort();
    // In-flight requests get a moment to land; then we go, whatever is pending.
    setTimeout(() => {
      process.stderr.write('ferry: interrupted\n');
      process.exit(ExitCode.interrupted);
    }, 2000).unref();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // For the process's life, not this call's: the error arrives after the write that failed.
  if (!process.stdout.listeners('error').includes(onStdoutError)) process.stdout.on('error', onStdoutError);
  const verbose = argv.some((a) => /^-[a-zA-Z0-9]*v/.test(a) || a === '--debug');
  try {
    await buildProgram({ signal: abort.signal }).parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : ExitCode.ok;
  } catch (err) {
    if (abort.signal.aborted && !(err instanceof UsageError)) {
      process.stderr.write('ferry: interrupted; run the same command again to copy what is missing\n');
      return ExitCode.interrupted;
    }
    return report(err, verbose);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
