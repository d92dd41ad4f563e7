// Swagger validation for the simulated Gitea, in a worker thread.
// Why a worker: openapi-backend (CommonJS) requires an ESM-only dependency, which Node 20 loads natively
// (require(esm)) but Jest's module runtime cannot. Plain Node in a worker loads it fine, once per process.
import { readFile } from 'node:fs/promises';
import { parentPort, workerData } from 'node:worker_threads';
import s2o from 'swagger2openapi';
import { OpenAPIBackend } from 'openapi-backend';
import ajvFormats from 'ajv-formats';

const SWAGGER_URL = '/api/swagger';
const addFormats = typeof ajvFormats === 'function' ? ajvFormats : ajvFormats.default;

const spec = JSON.parse(await readFile(workerData.swaggerPath, 'utf8'));
const { openapi } = await s2o.convertObj(spec, { patch: true, warnOnly: true });
const api = new OpenAPIBackend({
  definition: openapi,
  quick: true,
  customizeAjv: (ajv) => {
    addFormats(ajv);
    return ajv;
  },
});
await api.init();

/** Gitea routes {filepath} as a wildcard; the OpenAPI router does not, so slashes after contents/ and raw/ are folded. */
function routablePath(path) {
  const m = /^(\/repos\/[^/]+\/[^/]+\/(?:contents|raw)\/)(.+)$/.exec(path);
  return m ? m[1] + m[2].replace(/\//g, '%2F') : path;
}

/** Go writes nil pointers and slices as null; Swagger 2.0 cannot say "nullable", so nulls count as absent. */
function dropNulls(value) {
  if (Array.isArray(value)) return value.map(dropNulls);
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value)
        .filter(([, v]) => v !== null)
        .map(([k, v]) => [k, dropNulls(v)]),
    );
  }
  return value;
}

function checkRequest(req) {
  const oasReq = { method: req.method.toLowerCase(), path: routablePath(req.path), query: req.query, headers: req.headers, body: req.body };
  const operation = api.matchOperation(oasReq);
  if (!operation) return { ok: false, status: 404, body: { message: "The target couldn't be found.", url: SWAGGER_URL, errors: [] } };
  // Gitea binds an absent body as an empty form and then enforces its required fields.
  const body = operation.requestBody && req.body === undefined ? {} : req.body;
  const validation = api.validateRequest({ ...oasReq, body }, operation);
  if (!validation.valid) {
    const message = (validation.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? 'invalid'}`).join('; ');
    return { ok: false, status: 422, body: { message, url: SWAGGER_URL } };
  }
  const params = api.router.parseRequest(oasReq, operation).params;
  const decoded = Object.fromEntries(Object.entries(params).map(([k, v]) => [k, decodeURIComponent(String(v))]));
  return { ok: true, operationId: operation.operationId, params: decoded };
}

// Directory listings of repoGetContents are arrays of ContentsResponse, which the spec does not declare:
// each entry is checked against the single-item schema instead.
function checkResponse({ operationId, status, body }) {
  const operation = api.getOperation(operationId);
  const items = operationId === 'repoGetContents' && Array.isArray(body) ? body : [body];
  const errors = [];
  for (const item of items) {
    const result = api.validateResponse(dropNulls(item), operation, status);
    for (const e of result.errors ?? []) errors.push(`${operationId} ${status} ${e.instancePath || '/'} ${e.message ?? ''}`);
  }
  return errors;
}

parentPort.on('message', (msg) => {
  try {
    const result = msg.kind === 'request' ? checkRequest(msg.req) : checkResponse(msg);
    parentPort.postMessage({ id: msg.id, result });
  } catch (err) {
    parentPort.postMessage({ id: msg.id, error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  }
});
parentPort.postMessage({ ready: true });
