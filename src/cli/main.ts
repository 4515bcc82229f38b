import { runCli } from './program.js';

// A reader that stops early (`tollgate accounts show acme | head`) ends the output, not the command with a stack
// trace: what it did is done, and what it printed after the reader left had nobody to read it.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code !== 'EPIPE') throw error;
  process.exit(Number(process.exitCode ?? 0));
});

/** The `tollgate` executable: see program.ts for the commands and context.ts for the exit codes. */
process.exitCode = await runCli(process.argv);
