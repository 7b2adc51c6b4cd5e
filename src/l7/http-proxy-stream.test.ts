/**
 * Bodies through the HTTP proxy: chunked both ways, and 50 MB each way
 * streamed with the proxy's memory bounded (never a whole body in memory).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import v8 from 'node:v8';
import vm from 'node:vm';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { startProxy, startUpstream, type ProxyUnderTest, type Upstream } from './proxy-harness.js';

const run = promisify(execFile);
const HOST = 'deathstar.default.svc.cluster.local';
const MB = 1024 * 1024;
const BIG = 50 * MB;
const PIECE = Buffer.alloc(64 * 1024, 0x61);

/** Writes `total` bytes to `out` in 64 KiB pieces, respecting backpressure, then ends it. */
function writeBytes(out: NodeJS.WritableStream, total: number, onWritten?: (n: number) => void): void {
  let written = 0;
  const pump = () => {
    while (written < total) {
      const n = Math.min(PIECE.length, total - written);
      written += n;
      onWritten?.(written);
      if (!out.write(n === PIECE.length ? PIECE : PIECE.subarray(0, n))) {
        out.once('drain', pump);
        return;
      }
    }
    out.end();
  };
  pump();
}

// A collector to call, so that samples count what is retained, not garbage
// waiting for the next collection (three sockets' worth of 64 KiB reads).
v8.setFlagsFromString('--expose-gc');
const collect = vm.runInNewContext('gc') as () => void;

/**
 * Growth of the process's memory while `work` runs, sampled every 20 ms
 * after a full collection: the peak RSS, and the median and peak of what
 * is retained (JS heap plus buffers). A proxy holding a whole body would
 * retain it, growing with the bytes passed: the median would be tens of
 * MB. The peak alone is noisy (buffers freed by the background sweeper
 * after the sample), so it gets a looser bound, still under one body.
 */
async function memoryGrowth<T>(work: () => Promise<T>): Promise<{ result: T; rssMb: number; retainedMedianMb: number; retainedPeakMb: number }> {
  const sample = () => {
    collect();
    const m = process.memoryUsage();
    return { rss: m.rss, retained: m.heapUsed + m.arrayBuffers };
  };
  const base = sample();
  let peakRss = base.rss;
  const retained: number[] = [];
  const timer = setInterval(() => {
    const s = sample();
    peakRss = Math.max(peakRss, s.rss);
    retained.push((s.retained - base.retained) / MB);
  }, 20);
  try {
    const result = await work();
    retained.sort((a, b) => a - b);
    return {
      result, rssMb: (peakRss - base.rss) / MB,
      retainedMedianMb: retained[Math.floor(retained.length / 2)] ?? 0, retainedPeakMb: retained.at(-1) ?? 0,
    };
  } finally {
    clearInterval(timer);
  }
}

describe('HTTP proxy: streamed bodies', () => {
  let up: Upstream;
  let px: ProxyUnderTest;
  /** What the server received of the last upload: bytes, framing, and how much the client had sent when the server saw the first byte. */
  const upload = { bytes: 0, chunked: false, clientSentAtFirstByte: -1 };
  let clientSent = 0;
  before(async () => {
    up = await startUpstream((req, res) => {
      if (req.url === '/download') {
        res.writeHead(200, { 'content-length': String(BIG) });
        writeBytes(res, BIG);
        return;
      }
      if (req.url === '/chunked-reply') {
        res.write('first,');
        setTimeout(() => res.end('second'), 50);
        req.resume();
        return;
      }
      Object.assign(upload, { bytes: 0, chunked: req.headers['transfer-encoding'] === 'chunked', clientSentAtFirstByte: -1 });
      req.on('data', (d: Buffer) => {
        if (upload.bytes === 0) upload.clientSentAtFirstByte = clientSent;
        upload.bytes += d.length;
      });
      req.on('end', () => res.end(`got ${upload.bytes}`));
    });
    px = await startProxy(up.port, [{ method: 'POST|GET' }]);
  });
  after(async () => {
    await px.close();
    await up.close();
  });

  it('streams a chunked upload (curl) to the server, chunked', async () => {
    const { stdout } = await run('bash', ['-c', `head -c 300000 /dev/zero | curl -s -H 'Host: ${HOST}' -H 'Transfer-Encoding: chunked' --data-binary @- http://127.0.0.1:${px.port}/upload`]);
    assert.equal(stdout, 'got 300000');
    assert.equal(upload.chunked, true);
  });

  it('streams a chunked response back as it comes', async () => {
    const { stdout } = await run('curl', ['-s', '-i', '-H', `Host: ${HOST}`, `http://127.0.0.1:${px.port}/chunked-reply`]);
    assert.match(stdout, /transfer-encoding: chunked/i);
    assert.ok(stdout.endsWith('\r\n\r\nfirst,second'));
  });

  it('streams a 50 MB upload with bounded memory, the server reading before the client finished', async (t) => {
    const send = (bytes: number) => new Promise<string>((resolve, reject) => {
      clientSent = 0;
      const req = http.request({ host: '127.0.0.1', port: px.port, method: 'POST', path: '/upload', headers: { host: HOST, 'content-length': String(bytes) } }, (res) => {
        let body = '';
        res.on('data', (d: Buffer) => { body += d.toString(); });
        res.on('end', () => resolve(body));
      });
      req.on('error', reject);
      writeBytes(req, bytes, (n) => { clientSent = n; });
    });
    // A smaller upload first: the code of this path compiled (V8's code and feedback count in the heap) before the
    // baseline, so that what is measured is what the transfer keeps, not the JIT's first work.
    assert.equal(await send(4 * MB), `got ${4 * MB}`);
    const { result, rssMb, retainedMedianMb, retainedPeakMb } = await memoryGrowth(() => send(BIG));
    assert.equal(result, `got ${BIG}`);
    assert.ok(upload.clientSentAtFirstByte >= 0 && upload.clientSentAtFirstByte < 8 * MB, `server's first byte after ${upload.clientSentAtFirstByte} bytes sent`);
    t.diagnostic(`memory growth: retained median ${retainedMedianMb.toFixed(1)} MB, peak ${retainedPeakMb.toFixed(1)} MB; RSS peak ${rssMb.toFixed(1)} MB`);
    // Client, proxy and server share this process; a run now and then holds a steady ~13 MB in flight among the
    // three (a plateau: the peak is as high as the median). A proxy keeping the body would grow with it to 50 MB,
    // a median of about 25 MB.
    assert.ok(retainedMedianMb < 16, `median retained growth ${retainedMedianMb.toFixed(1)} MB`);
    assert.ok(retainedPeakMb < 40, `peak retained growth ${retainedPeakMb.toFixed(1)} MB`);
    assert.ok(rssMb < 48, `RSS grew ${rssMb.toFixed(1)} MB`);
  });

  it('streams a 50 MB download with bounded memory, the client reading slowly', async (t) => {
    const { result, rssMb, retainedMedianMb, retainedPeakMb } = await memoryGrowth(() => new Promise<number>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port: px.port, path: '/download', headers: { host: HOST } }, (res) => {
        let bytes = 0;
        // A slow start: the proxy must hold back rather than buffer the server's 50 MB.
        res.pause();
        setTimeout(() => res.resume(), 300);
        res.on('data', (d: Buffer) => { bytes += d.length; });
        res.on('end', () => resolve(bytes));
        res.on('error', reject);
      }).on('error', reject);
    }));
    assert.equal(result, BIG);
    t.diagnostic(`memory growth: retained median ${retainedMedianMb.toFixed(1)} MB, peak ${retainedPeakMb.toFixed(1)} MB; RSS peak ${rssMb.toFixed(1)} MB`);
    assert.ok(retainedMedianMb < 8, `median retained growth ${retainedMedianMb.toFixed(1)} MB`);
    assert.ok(retainedPeakMb < 40, `peak retained growth ${retainedPeakMb.toFixed(1)} MB`);
    assert.ok(rssMb < 48, `RSS grew ${rssMb.toFixed(1)} MB`);
  });
});
