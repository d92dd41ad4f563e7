#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { ConfigError } from '../config/env.js';
import { CliError } from './context.js';
import { registerCycle } from './cycle.js';
import { registerDoctor } from './doctor.js';
import { registerEnqueue } from './enqueue.js';
import { registerInit } from './init.js';
import { registerItemCommands } from './itemCommands.js';
import { registerProcessCommands } from './processes.js';
import { registerSetup } from './setup.js';
import { registerStatus } from './status.js';

const program = new Command('damascus')
  .description('Gitea-native orchestrator: a labelled issue goes spec → build → review → merge')
  .showHelpAfterError()
  .exitOverride();

registerInit(program);
registerCycle(program);
registerStatus(program);
registerItemCommands(program);
registerProcessCommands(program);
registerEnqueue(program);
registerSetup(program);
registerDoctor(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    process.exitCode = err.exitCode;
  } else if (err instanceof CliError) {
    console.error(`damascus: ${err.message}`);
    process.exitCode = err.exitCode;
  } else if (err instanceof ConfigError) {
    console.error(`damascus: ${err.message}`);
    process.exitCode = 2;
  } else {
    console.error(`damascus: unexpected error: ${(err as Error)?.stack ?? String(err)}`);
    process.exitCode = 1;
  }
}
