import { runCli } from './program.js';

/** The `tollgate` executable: see program.ts for the commands and context.ts for the exit codes. */
process.exitCode = await runCli(process.argv);
