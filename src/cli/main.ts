// `unclamp` command line: the same core as the browser, on Node (wasm backend, cpu fallback).
// Each subcommand lives in its own module and registers itself here.
import { Command, CommanderError } from 'commander';
import { isInputError } from '../core/errors.ts';

type Register = (program: Command) => void;

// One line per subcommand module.
async function loadCommands(): Promise<Register[]> {
  const mods = await Promise.all([
    import('./recover.ts'),
    import('./run.ts'),
    import('./defences.ts'),
    import('./report.ts'),
    import('./sweep.ts'),
    import('./merge.ts'),
    import('./inspect.ts'),
    import('./logits.ts'),
    import('./plan.ts'),
  ]);
  return mods.map((m) => m.register);
}

export async function main(argv: string[]): Promise<number> {
  const program = new Command('unclamp')
    .description('Post-intervention recovery attacks on SAE feature clamps (Node runner of the Unclamp core).')
    .showHelpAfterError('(run `unclamp <command> --help` for the options)')
    .exitOverride();
  for (const register of await loadCommands()) register(program);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      // --help and --version end here with code 0; argument errors were already printed by commander.
      return e.exitCode === 0 ? 0 : 2;
    }
    if (isInputError(e)) {
      // The user's input, not our bug: one line, exit 2.
      process.stderr.write(`unclamp: ${e.message.split('\n')[0]}\n`);
      return 2;
    }
    process.stderr.write(`unclamp: internal error: ${(e as Error)?.stack ?? String(e)}\n`);
    return 1;
  }
}
