/**
 * The queues' own view: bull-board under /admin/queues, read-only. Express and bull-board are
 * loaded on the first request, so processes that never open the view do not pay for them.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Queues } from '../queue/queues.js';
import type { Route } from './server.js';

export const ADMIN_QUEUES_BASE = '/admin/queues';
export const ADMIN_QUEUES_PATH = /^\/admin\/queues(?:\/.*)?$/;

type NodeHandler = (req: IncomingMessage, res: ServerResponse) => void;

async function buildBoard(queues: Queues): Promise<NodeHandler> {
  const [{ default: express }, { createBullBoard }, { BullMQAdapter }, { ExpressAdapter }] = await Promise.all([
    import('express'),
    import('@bull-board/api'),
    import('@bull-board/api/bullMQAdapter'),
    import('@bull-board/express'),
  ]);
  const serverAdapter = new ExpressAdapter();
  serverAdapter.setBasePath(ADMIN_QUEUES_BASE);
  createBullBoard({
    // Read-only: the board shows jobs; retrying, cleaning or pausing stays with the CLI and the scheduler.
    queues: queues.all.map((q) => new BullMQAdapter(q, { readOnlyMode: true })),
    serverAdapter,
    options: { uiConfig: { boardTitle: 'Damascus queues' } },
  });
  const app = express();
  app.disable('x-powered-by');
  app.use(ADMIN_QUEUES_BASE, serverAdapter.getRouter());
  return app as unknown as NodeHandler;
}

/** GET /admin/queues[/…] (unguarded: src/http/dashboard.ts puts it behind the dashboard token). */
export function adminQueuesRoute(queues: Queues): Route {
  let board: Promise<NodeHandler> | null = null;
  return {
    method: 'GET',
    path: ADMIN_QUEUES_PATH,
    handler: async (req, res) => {
      board ??= buildBoard(queues).catch((err: unknown) => {
        board = null; // try again on the next request
        throw err;
      });
      const app = await board;
      // Express answers in its own time; wait for the response so errors reach the router's handler.
      await new Promise<void>((resolve) => {
        res.once('finish', resolve);
        res.once('close', resolve);
        app(req, res);
      });
    },
  };
}
