/**
 * CniAgentClient against a real node:http server on a unix socket (the
 * agent's server is one), and its response parser on hand-made bytes.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { MembraneError } from '../common/errors.js';
import { CniAgentClient, parseHttpResponse } from './agent-client.js';
import { isAgentUnreachable } from './errors.js';

function listen(server: Server | ReturnType<typeof createNetServer>, path: string): Promise<void> {
  return new Promise((resolve) => server.listen(path, resolve));
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

describe('CniAgentClient', () => {
  const dir = mkdtempSync('/tmp/membrane-cni-agent-client-');
  const socket = join(dir, 'agent.sock');
  const seen: { method: string; url: string; body: string; contentType?: string }[] = [];
  let server: Server;

  before(async () => {
    server = createServer((req: IncomingMessage, res: ServerResponse) => {
      void readBody(req).then((body) => {
        seen.push({ method: req.method!, url: req.url!, body, ...(req.headers['content-type'] ? { contentType: req.headers['content-type'] } : {}) });
        if (req.url === '/v1/ipam') {
          res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ ip: '10.0.0.7', prefixLength: 32, podCIDR: '10.0.0.0/24', gateway: '10.0.0.1', mtu: 1500 }));
        } else if (req.url === '/v1/healthz') {
          // Written in two pieces: Node sends it chunked.
          res.writeHead(200, { 'content-type': 'application/json' });
          res.write('{"ok":');
          res.end('true}');
        } else if (req.method === 'DELETE') {
          res.writeHead(204).end();
        } else if (req.url === '/v1/endpoints') {
          res.writeHead(400, { 'content-type': 'application/json' })
            .end(JSON.stringify({ error: { code: 'EINVAL', message: 'labels: "bad key" is not a label key', path: 'labels' } }));
        } else if (req.url === '/v1/cni/gc') {
          res.writeHead(500).end('not JSON');
        } else {
          res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { code: 'ENOTFOUND', message: 'no endpoint' } }));
        }
      });
    });
    await listen(server, socket);
  });
  after(() => {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('posts JSON and parses the JSON answer', async () => {
    const ipam = await new CniAgentClient(socket).allocateIp('c1:eth0');
    assert.equal(ipam.ip, '10.0.0.7');
    const req = seen.find((s) => s.url === '/v1/ipam')!;
    assert.deepEqual(req, { method: 'POST', url: '/v1/ipam', body: '{"owner":"c1:eth0"}', contentType: 'application/json' });
  });

  it('reads a chunked answer, and an empty 204 as undefined', async () => {
    assert.deepEqual(await new CniAgentClient(socket).healthz(), { ok: true });
    assert.equal(await new CniAgentClient(socket).deleteEndpointByAttachment('c/1', 'eth0'), undefined);
    assert.ok(seen.some((s) => s.method === 'DELETE' && s.url === '/v1/endpoints/cni/c%2F1/eth0'), 'path parts are encoded');
  });

  it('throws the agent\'s code, message and path, with no cause (the agent answered)', async () => {
    const err = await new CniAgentClient(socket).putEndpoint({} as never).catch((e: unknown) => e);
    assert.ok(err instanceof MembraneError);
    assert.equal(err.code, 'EINVAL');
    assert.equal(err.path, 'labels');
    assert.match(err.message, /bad key/);
    assert.equal(isAgentUnreachable(err), false);
    const notFound = await new CniAgentClient(socket).getEndpointByAttachment('c1', 'eth0').catch((e: unknown) => e);
    assert.equal((notFound as MembraneError).code, 'ENOTFOUND');
  });

  it('names the status when an error answer is not JSON', async () => {
    const err = await new CniAgentClient(socket).cniGc({ validAttachments: [] }).catch((e: unknown) => e);
    assert.equal((err as MembraneError).code, 'EAGENT');
    assert.match((err as Error).message, /HTTP 500: not JSON/);
    assert.equal(isAgentUnreachable(err), false);
  });

  it('is unreachable (EAGENT with a cause) without a socket, with a hint', async () => {
    const err = await new CniAgentClient(join(dir, 'none.sock')).healthz().catch((e: unknown) => e);
    assert.ok(isAgentUnreachable(err));
    assert.match((err as Error).message, /unable to reach the membrane agent at .*none\.sock.*is the agent running/);
  });

  it('is unreachable when the agent hangs past the timeout, or cuts its answer off', async () => {
    const hung = join(dir, 'hung.sock');
    const cut = join(dir, 'cut.sock');
    const hanging = createNetServer(() => undefined);
    const cutting = createNetServer((s) => s.end('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n{"ok"'));
    await listen(hanging, hung);
    await listen(cutting, cut);
    try {
      const timedOut = await new CniAgentClient(hung, 50).healthz().catch((e: unknown) => e);
      assert.ok(isAgentUnreachable(timedOut));
      assert.match((timedOut as Error).message, /timed out after 50 ms/);
      const cutOff = await new CniAgentClient(cut).healthz().catch((e: unknown) => e);
      assert.ok(isAgentUnreachable(cutOff));
      assert.match((cutOff as Error).message, /after 5 of its 10 body bytes/);
    } finally {
      hanging.close();
      cutting.close();
    }
  });
});

describe('parseHttpResponse', () => {
  const parse = (s: string) => parseHttpResponse(Buffer.from(s, 'latin1'));

  it('takes Content-Length bytes, or everything up to the end without it', () => {
    assert.deepEqual(parse('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}'), { status: 200, body: '{}' });
    assert.deepEqual(parse('HTTP/1.0 404 Not Found\r\n\r\nno'), { status: 404, body: 'no' });
  });

  it('joins chunks, whatever the case of the header', () => {
    assert.deepEqual(parse('HTTP/1.1 200 OK\r\ntransfer-encoding: Chunked\r\n\r\n3\r\nabc\r\na\r\n0123456789\r\n0\r\n\r\n'),
      { status: 200, body: 'abc0123456789' });
  });

  it('decodes UTF-8 bodies split anywhere', () => {
    const body = Buffer.from('{"msg":"héllo"}');
    const raw = Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n9\r\n`), body.subarray(0, 9),
      Buffer.from(`\r\n${(body.length - 9).toString(16)}\r\n`), body.subarray(9), Buffer.from('\r\n0\r\n\r\n')]);
    assert.equal(parseHttpResponse(raw).body, '{"msg":"héllo"}');
  });

  it('throws on an answer cut off in its headers or chunks, and on what is not HTTP', () => {
    assert.throws(() => parse('HTTP/1.1 200 OK\r\nContent-Le'), /inside its headers/);
    assert.throws(() => parse('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab'), /inside a chunk/);
    assert.throws(() => parse('SSH-2.0-OpenSSH\r\n\r\n'), /not an HTTP answer/);
  });
});
