import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';
import { listenDeathstar, type ListeningServer } from './deathstar.js';
import { DEATHSTAR_INFO, EXHAUST_PORT_BACKTRACE } from './deathstar-routes.js';

interface Reply {
  status: number;
  body: string;
  headers: http.IncomingHttpHeaders;
}

function request(port: number, method: string, path: string, body?: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), headers: res.headers }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('deathstar workload over loopback', () => {
  let s: ListeningServer;
  before(async () => {
    s = await listenDeathstar(0, '127.0.0.1');
  });
  after(async () => {
    await s.close();
  });

  it('lands a ship: POST /v1/request-landing -> 200 "Ship landed\\n"', async () => {
    const r = await request(s.port, 'POST', '/v1/request-landing', '{}');
    assert.equal(r.status, 200);
    assert.equal(r.body, 'Ship landed\n');
    assert.equal(r.headers['content-type'], 'text/plain');
  });

  it('describes the station on GET /v1/ and GET /v1', async () => {
    for (const path of ['/v1/', '/v1']) {
      const r = await request(s.port, 'GET', path);
      assert.equal(r.status, 200);
      assert.equal(r.body, DEATHSTAR_INFO);
    }
    assert.match(DEATHSTAR_INFO, /"name": "Death Star"/);
    assert.match(DEATHSTAR_INFO, /"PUT   \/v1\/exhaust-port"\n\t\]\n\}\n$/);
  });

  it('answers PUT /v1/exhaust-port with 503 and the panic backtrace, and keeps serving', async () => {
    const r = await request(s.port, 'PUT', '/v1/exhaust-port');
    assert.equal(r.status, 503);
    assert.equal(r.body, EXHAUST_PORT_BACKTRACE);
    assert.ok(r.body.startsWith('Panic: deathstar exploded\n\ngoroutine 1 [running]:\n'));
    assert.match(r.body, /^ {8}temp\/main\.go:9 \+0x64$/m);
    assert.equal((await request(s.port, 'POST', '/v1/request-landing')).status, 200);
  });

  it('answers 404 "path /x was not found" for an unknown path', async () => {
    const r = await request(s.port, 'GET', '/x');
    assert.equal(r.status, 404);
    assert.equal(r.body, 'path /x was not found');
    assert.equal((await request(s.port, 'GET', '/v1/healthz')).status, 404);
  });

  it('answers 405 for a known path with the wrong method, naming the allowed one', async () => {
    const r = await request(s.port, 'GET', '/v1/request-landing');
    assert.equal(r.status, 405);
    assert.equal(r.body, 'method GET is not allowed, but [POST] are');
    assert.equal(r.headers['allow'], 'POST');
  });
});
