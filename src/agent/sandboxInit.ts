/**
 * Runs inside the agent's sandbox, before the agent: `node init.mjs <port|-> <socket|-> -- argv…`.
 * The sandbox has its own network namespace with nothing but loopback, so this opens 127.0.0.1:<port> and pipes
 * each connection to the egress proxy's Unix socket (bound in from outside), then runs the agent with
 * HTTP(S)_PROXY pointing there. Only node: built-ins: this file is bound into the sandbox on its own.
 */
import { spawn } from 'node:child_process';
import { connect, createServer } from 'node:net';

const [portArg, socketPath, sep, ...argv] = process.argv.slice(2);
if (sep !== '--' || argv.length === 0 || !portArg || !socketPath) {
  process.stderr.write('usage: init.mjs <port|-> <socket|-> -- command…\n');
  process.exit(2);
}

async function forward(): Promise<void> {
  if (portArg === '-' || socketPath === '-') return;
  const server = createServer((client) => {
    const upstream = connect(socketPath!);
    client.pipe(upstream).pipe(client);
    const drop = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', drop);
    upstream.on('error', drop);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(Number(portArg), '127.0.0.1', () => resolve());
  });
  server.unref();
}

await forward();
const child = spawn(argv[0]!, argv.slice(1), { stdio: 'inherit' });
for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(sig, () => child.kill(sig));
child.on('error', (e) => {
  process.stderr.write(`damascus sandbox: cannot start ${argv[0]}: ${e.message}\n`);
  process.exit(127);
});
child.on('exit', (code, signal) => process.exit(code ?? 128 + (signal === 'SIGKILL' ? 9 : 15)));
