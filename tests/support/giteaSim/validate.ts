import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { matchRoute } from './routes.js';

/** Gitea's own API spec (1.26.3), kept read-only in ../shared (not in this repo). */
export const SWAGGER_PATH = process.env.GITEA_SWAGGER_PATH ?? fileURLToPath(new URL('../../../../shared/gitea/swagger.v1.json', import.meta.url));

/**
 * Whether requests and responses are checked against Gitea's swagger. In a clone without ../shared the
 * simulator still routes every operation it serves (routes.ts) but validates nothing; the tests that hold
 * the simulator to the spec say they were skipped.
 */
export const SWAGGER_AVAILABLE = existsSync(SWAGGER_PATH);

export interface IncomingRequest {
  method: string;
  /** Path below /api/v1, no query string, still percent-encoded. */
  path: string;
  query: Record<string, string>;
  headers: Record<string, string>;
  body: unknown;
}

export type RequestCheck =
  | { ok: true; operationId: string; params: Record<string, string> }
  | { ok: false; status: 404 | 422; body: { message: string; url: string; errors?: string[] } };

interface Validator {
  call<T>(msg: Record<string, unknown>): Promise<T>;
}

let validatorPromise: Promise<Validator> | null = null;

/**
 * The swagger converted to OpenAPI 3 (swagger2openapi) inside an openapi-backend validator (`quick: true`,
 * ajv-formats), running in a worker thread — built once per process. See validatorWorker.mjs for why a worker.
 */
export function giteaValidator(): Promise<Validator | null> {
  if (!SWAGGER_AVAILABLE) return Promise.resolve(null);
  validatorPromise ??= new Promise<Validator>((resolve, reject) => {
    const worker = new Worker(new URL('./validatorWorker.mjs', import.meta.url), { workerData: { swaggerPath: SWAGGER_PATH } });
    const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
    let nextId = 0;
    worker.on('error', (err) => {
      reject(err);
      for (const p of pending.values()) p.reject(err);
      pending.clear();
    });
    worker.on('message', (msg: { ready?: boolean; id?: number; result?: unknown; error?: string }) => {
      if (msg.ready) {
        resolve({
          call<T>(m: Record<string, unknown>): Promise<T> {
            const id = nextId++;
            return new Promise<T>((res, rej) => {
              pending.set(id, { resolve: res as (v: unknown) => void, reject: rej });
              worker.postMessage({ ...m, id });
            });
          },
        });
        return;
      }
      const p = pending.get(msg.id ?? -1);
      if (!p) return;
      pending.delete(msg.id!);
      if (msg.error) p.reject(new Error(`validator: ${msg.error}`));
      else p.resolve(msg.result);
    });
    // After the listeners: attaching a 'message' listener re-refs the port. Unreferenced, the worker never keeps a
    // finished test process alive.
    worker.unref();
  });
  return validatorPromise;
}

/**
 * What Gitea would do with this request before any handler runs: 404 when no operation in the spec matches
 * (method + path), 422 `{message, url}` when parameters or the JSON body break the schema.
 */
export async function checkRequest(req: IncomingRequest): Promise<RequestCheck> {
  if (!SWAGGER_AVAILABLE) {
    const m = matchRoute(req.method, req.path);
    return m ? { ok: true, ...m } : { ok: false, status: 404, body: { message: "The target couldn't be found.", url: '/api/swagger', errors: [] } };
  }
  return (await giteaValidator())!.call<RequestCheck>({ kind: 'request', req });
}

/** Schema violations of a success response body against the operation's declared response ([] when valid). */
export async function checkResponse(operationId: string, status: number, body: unknown): Promise<string[]> {
  if (body === undefined || status >= 400 || !SWAGGER_AVAILABLE) return [];
  return (await giteaValidator())!.call<string[]>({ kind: 'response', operationId, status, body });
}
