import type { Command } from 'commander';
import { databaseName, describeDbError } from '../db/connection.js';
import { initDatabase, type InitReport } from '../db/migrate.js';
import { CliError, commandContext } from './context.js';

export function registerInit(program: Command): void {
  program
    .command('init')
    .description('create the database named in DATABASE_URL if missing and apply the schema (safe to run again)')
    .action(async () => {
      const { settings } = commandContext();
      let report: InitReport;
      try {
        report = await initDatabase(settings.databaseUrl);
      } catch (err) {
        throw new CliError(describeDbError(err, settings.databaseUrl));
      }
      const db = databaseName(settings.databaseUrl);
      if (report.databaseCreated) console.log(`created database ${db}`);
      if (report.applied.length > 0) {
        console.log(`applied ${report.applied.join(', ')}; schema is at version ${report.version}`);
      } else {
        console.log(`database ${db} is up to date (schema version ${report.version}); nothing changed`);
      }
    });
}
