/**
 * The proxy's one server connection for one client connection (as
 * Envoy's original-destination cluster gives the server one connection
 * per client connection): opened on the first request sent, reopened only
 * after the server closed it, and carrying one request at a time (the
 * next is written once the previous response and request body are
 * through, as a keep-alive agent with one socket would), so that servers
 * never see pipelining they did not ask for.
 *
 * The request head is written by the caller's hand (one write), the body
 * streamed with backpressure in the framing the head announced, the
 * response parsed by HttpResponseParser and handed on as it arrives.
 */
import type http from 'node:http';
import type net from 'node:net';
import { HttpResponseParser, type ResponseHandlers, type ResponseHead } from './http-response-parser.js';

/** How the request body goes to the server (its head announced it). */
export type UpstreamBody = 'none' | 'length' | 'chunked';

/** One request to send and what to do with its response. */
export interface UpstreamExchange {
  /** Request line and header fields, ending with the empty line (latin1). */
  head: string;
  /** HEAD: the response has no body whatever its headers say. */
  headRequest: boolean;
  body: UpstreamBody;
  /** The body's source (read only when `body` is not 'none'). */
  req: http.IncomingMessage;
  onHead(head: ResponseHead): void;
  /** A piece of the response body; false asks the connection to stop reading until resumeReading(). */
  onBody(chunk: Buffer): boolean;
  onEnd(): void;
  /** The exchange failed (connect, reset, malformed response), before or after onHead; nothing follows. */
  onError(err: Error): void;
}

type OpenCallback = (err: Error | null, socket?: net.Socket) => void;

export class UpstreamConnection {
  private socket: net.Socket | undefined;
  private opening = false;
  private closed = false;
  private readonly queue: UpstreamExchange[] = [];
  private current: UpstreamExchange | undefined;
  private responseEnded = false;
  private bodySent = false;
  private keepAlive = true;
  private socketError: Error | undefined;
  private parser!: HttpResponseParser;
  private readonly handlers: ResponseHandlers;
  private stopBody: (() => void) | undefined;

  /**
   * `client`: the client's socket, corked while one read from the server is handled so that what it produces
   * for the client (a response's head, body and end) goes out in one write.
   */
  constructor(private readonly open: (cb: OpenCallback) => void, private readonly client?: net.Socket) {
    this.handlers = {
      onHead: (head) => this.current?.onHead(head),
      onBody: (chunk) => {
        if (this.current && !this.current.onBody(chunk)) this.socket?.pause();
      },
      onEnd: (keepAlive) => {
        this.keepAlive = keepAlive;
        this.responseEnded = true;
        const ex = this.current;
        if (!ex) return;
        // A server closing after the response will not read the rest of the body either.
        if (!keepAlive) this.dropBody();
        ex.onEnd();
        this.maybeDone();
      },
    };
  }

  /** destroy() was called: a new UpstreamConnection is needed for more requests. */
  get destroyed(): boolean {
    return this.closed;
  }

  /** Sends `ex` after the exchanges before it. */
  send(ex: UpstreamExchange): void {
    if (this.closed) return;
    this.queue.push(ex);
    if (!this.current) this.next();
  }

  /** Reading was stopped by onBody returning false: go on. */
  resumeReading(): void {
    this.socket?.resume();
  }

  /** Closes the server connection; pending exchanges are dropped without a word. */
  destroy(): void {
    this.closed = true;
    this.queue.length = 0;
    this.current = undefined;
    this.stopBody?.();
    this.stopBody = undefined;
    this.socket?.destroy();
    this.socket = undefined;
  }

  private next(): void {
    if (this.closed || this.current) return;
    const ex = this.queue.shift();
    if (!ex) return;
    if (!this.socket) {
      this.queue.unshift(ex);
      this.connect();
      return;
    }
    this.current = ex;
    this.responseEnded = false;
    this.bodySent = ex.body === 'none';
    this.parser.expect(ex.headRequest);
    const socket = this.socket;
    if (ex.body === 'none') {
      socket.write(ex.head, 'latin1');
      return;
    }
    socket.cork();
    socket.write(ex.head, 'latin1');
    this.streamBody(ex, socket);
    process.nextTick(() => socket.uncork());
  }

  /** The request body to the server, framed as announced, pausing the client while the server is slow to read. */
  private streamBody(ex: UpstreamExchange, socket: net.Socket): void {
    const req = ex.req;
    const chunked = ex.body === 'chunked';
    let waiting = false;
    const resumeReq = () => {
      waiting = false;
      req.resume();
    };
    const onData = (chunk: Buffer) => {
      let ok: boolean;
      if (chunked) {
        if (chunk.length === 0) return;
        socket.cork();
        socket.write(`${chunk.length.toString(16)}\r\n`, 'latin1');
        socket.write(chunk);
        ok = socket.write('\r\n', 'latin1');
        socket.uncork();
      } else {
        ok = socket.write(chunk);
      }
      if (!ok && !waiting) {
        waiting = true;
        req.pause();
        socket.once('drain', resumeReq);
      }
    };
    const onEnd = () => {
      this.stopBody = undefined;
      detach();
      if (chunked) socket.write('0\r\n\r\n', 'latin1');
      this.bodySent = true;
      this.maybeDone();
    };
    const detach = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      socket.off('drain', resumeReq);
    };
    this.stopBody = detach;
    req.on('data', onData);
    req.on('end', onEnd);
  }

  /** Stops sending the body; the client's rest is read and dropped so that its next request parses. */
  private dropBody(): void {
    const ex = this.current;
    if (this.bodySent || !ex) return;
    this.stopBody?.();
    this.stopBody = undefined;
    this.bodySent = true;
    ex.req.resume();
  }

  private maybeDone(): void {
    if (!this.responseEnded || !this.bodySent || !this.current) return;
    this.current = undefined;
    if (!this.keepAlive) {
      this.socket?.destroy();
      this.socket = undefined;
    }
    this.next();
  }

  private fail(err: Error): void {
    const ex = this.current;
    this.dropBody();
    this.current = undefined;
    this.socket?.destroy();
    this.socket = undefined;
    if (ex) ex.onError(err);
    // The rest go over a new connection.
    this.next();
  }

  private connect(): void {
    if (this.opening || this.closed) return;
    this.opening = true;
    this.open((err, socket) => {
      this.opening = false;
      if (this.closed) {
        socket?.destroy();
        return;
      }
      if (err || !socket) {
        const ex = this.queue.shift();
        ex?.onError(err ?? new Error('no server connection'));
        this.next();
        return;
      }
      this.attach(socket);
      this.next();
    });
  }

  private attach(socket: net.Socket): void {
    this.socket = socket;
    this.socketError = undefined;
    this.keepAlive = true;
    socket.setNoDelay(true);
    // A fresh parser state: whatever the last connection left half-parsed is gone with it.
    this.parser = new HttpResponseParser(this.handlers);
    socket.on('data', (data: Buffer) => {
      if (socket !== this.socket) return;
      const client = this.client;
      client?.cork();
      try {
        this.parser.execute(data);
      } catch (err) {
        this.fail(err as Error);
      } finally {
        if (client?.writableCorked) client.uncork();
      }
    });
    socket.on('end', () => {
      if (socket !== this.socket) return;
      try {
        this.parser.finish();
      } catch (err) {
        this.fail(err as Error);
      }
    });
    socket.on('error', (err: Error) => {
      if (socket === this.socket) this.socketError = err;
    });
    socket.on('close', () => {
      if (socket !== this.socket) return;
      this.socket = undefined;
      if (this.current) this.fail(this.socketError ?? new Error('the server closed the connection'));
    });
  }
}
