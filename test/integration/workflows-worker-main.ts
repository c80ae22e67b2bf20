// `ferry worker` as a child process for the fault tests: the same command (cli/worker-command.ts)
// that `bin/ferry.js worker` runs once it is listed in cli/commands.ts.
import { workerCommand } from '../../cli/worker-command.ts';

process.exitCode = await workerCommand.run(process.argv.slice(2));
