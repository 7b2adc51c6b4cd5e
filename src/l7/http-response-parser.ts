/**
 * An incremental, strict HTTP/1.1 response parser for the proxy's server
 * side: status line and headers, then the body as its framing says
 * (RFC 9112 §6.3), handed on as it arrives, never gathered whole.
 *
 * Why not Node's http client: a ClientRequest and an Agent per request
 * cost more than the rest of the proxy together (listeners, an
 * AbortSignal, the agent's queue). The proxy sends one request at a time
 * on its one server connection, so the parser is told what each response
 * answers (HEAD or not) and fails on anything it does not expect: bytes
 * after a response, a malformed head, ambiguous framing. Interim 1xx
 * responses are skipped (the proxy answers Expect itself); 101 is an error
 * (Upgrade is never forwarded). Trailers are read and dropped.
 * Pure (no I/O).
 */

export interface ResponseHead {
  statusCode: number;
  statusMessage: string;
  /** Names and values as sent, flat: [name, value, name, value, ...] (as Node's rawHeaders). */
  rawHeaders: string[];
}

export interface ResponseHandlers {
  onHead(head: ResponseHead): void;
  onBody(chunk: Buffer): void;
  /** The response is complete; `keepAlive` false: the server connection cannot carry another. */
  onEnd(keepAlive: boolean): void;
}

export class ResponseParseError extends Error {
  readonly code = 'HPE_UPSTREAM_RESPONSE';
}

/** Largest status line plus headers accepted from a server (Node's client default). */
export const MAX_RESPONSE_HEAD = 16 * 1024;
const MAX_CHUNK_LINE = 4096;

const enum State { Idle, Head, Length, UntilClose, ChunkSize, ChunkData, ChunkDataEnd, Trailers }

const STATUS_LINE = /^HTTP\/1\.([01]) ([1-9]\d\d)(?: ([^\0\r\n]*))?$/;
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** Control characters but HTAB, as Node's strict parser refuses them. */
const BAD_VALUE = /[\0-\x08\x0a-\x1f\x7f]/;
const CHUNK_SIZE = /^([0-9A-Fa-f]{1,13})[ \t]*(?:;.*)?$/;
const CRLF_CRLF = Buffer.from('\r\n\r\n');

export class HttpResponseParser {
  private state = State.Idle;
  /** The response answers a HEAD request: no body whatever the headers say. */
  private headRequest = false;
  private keepAlive = false;
  private remaining = 0;
  /** Bytes of an unfinished head or line. */
  private partial: Buffer | undefined;

  constructor(private readonly on: ResponseHandlers) {}

  /** A request was sent: the next response answers it. */
  expect(headRequest: boolean): void {
    if (this.state !== State.Idle) throw new ResponseParseError('a request was sent before the previous response ended');
    this.headRequest = headRequest;
    this.state = State.Head;
  }

  /** Between responses, waiting for none. */
  get idle(): boolean {
    return this.state === State.Idle;
  }

  /** Whether the response's head has been parsed (its body may still come). */
  get inBody(): boolean {
    return this.state !== State.Idle && this.state !== State.Head;
  }

  /** Feeds bytes from the server; throws ResponseParseError on anything malformed or unexpected. */
  execute(data: Buffer): void {
    let buf = data;
    if (this.partial) {
      buf = Buffer.concat([this.partial, data]);
      this.partial = undefined;
    }
    let at = 0;
    while (at < buf.length) {
      switch (this.state) {
        case State.Idle:
          throw new ResponseParseError('the server sent bytes no request asked for');
        case State.Head: at = this.parseHead(buf, at); break;
        case State.Length: {
          const n = Math.min(this.remaining, buf.length - at);
          this.remaining -= n;
          this.on.onBody(n === buf.length && at === 0 ? buf : buf.subarray(at, at + n));
          at += n;
          if (this.remaining === 0) this.end();
          break;
        }
        case State.UntilClose:
          this.on.onBody(at === 0 ? buf : buf.subarray(at));
          at = buf.length;
          break;
        case State.ChunkSize: {
          const line = this.line(buf, at);
          if (!line) return;
          at = line.next;
          const m = CHUNK_SIZE.exec(line.text);
          if (!m) throw new ResponseParseError(`invalid chunk size line ${JSON.stringify(line.text.slice(0, 40))}`);
          this.remaining = parseInt(m[1]!, 16);
          this.state = this.remaining === 0 ? State.Trailers : State.ChunkData;
          break;
        }
        case State.ChunkData: {
          const n = Math.min(this.remaining, buf.length - at);
          this.remaining -= n;
          this.on.onBody(buf.subarray(at, at + n));
          at += n;
          if (this.remaining === 0) this.state = State.ChunkDataEnd;
          break;
        }
        case State.ChunkDataEnd: {
          const line = this.line(buf, at);
          if (!line) return;
          if (line.text !== '') throw new ResponseParseError('chunk data longer than its size');
          at = line.next;
          this.state = State.ChunkSize;
          break;
        }
        case State.Trailers: {
          const line = this.line(buf, at);
          if (!line) return;
          at = line.next;
          if (line.text === '') this.end();
          break;
        }
      }
    }
  }

  /** The server closed its side: ends a close-delimited body; throws if a response was cut short. */
  finish(): void {
    if (this.state === State.UntilClose) {
      this.state = State.Idle;
      this.on.onEnd(false);
      return;
    }
    if (this.state !== State.Idle) throw new ResponseParseError(this.state === State.Head ? 'the server closed the connection before its response' : 'the server closed the connection mid-response');
  }

  private end(): void {
    this.state = State.Idle;
    this.on.onEnd(this.keepAlive);
  }

  /** One CRLF-terminated line from `at`, or undefined with the rest kept for the next bytes. */
  private line(buf: Buffer, at: number): { text: string; next: number } | undefined {
    const lf = buf.indexOf(10, at);
    if (lf < 0) {
      if (buf.length - at > MAX_CHUNK_LINE) throw new ResponseParseError('chunk line too long');
      this.partial = buf.subarray(at);
      return undefined;
    }
    if (lf === at || buf[lf - 1] !== 13) throw new ResponseParseError('bare LF in chunked framing');
    if (lf - at > MAX_CHUNK_LINE) throw new ResponseParseError('chunk line too long');
    return { text: buf.toString('latin1', at, lf - 1), next: lf + 1 };
  }

  private parseHead(buf: Buffer, at: number): number {
    const end = buf.indexOf(CRLF_CRLF, at);
    if (end < 0) {
      if (buf.length - at > MAX_RESPONSE_HEAD) throw new ResponseParseError(`response head over ${MAX_RESPONSE_HEAD} bytes`);
      this.partial = buf.subarray(at);
      return buf.length;
    }
    if (end - at > MAX_RESPONSE_HEAD) throw new ResponseParseError(`response head over ${MAX_RESPONSE_HEAD} bytes`);
    const lines = buf.toString('latin1', at, end).split('\r\n');
    const status = STATUS_LINE.exec(lines[0]!);
    if (!status) throw new ResponseParseError(`invalid status line ${JSON.stringify(lines[0]!.slice(0, 80))}`);
    const minor = status[1] === '1' ? 1 : 0;
    const statusCode = Number(status[2]);
    const rawHeaders: string[] = [];
    let contentLength: string | undefined;
    let transferEncoding: string | undefined;
    let connection = '';
    for (let i = 1; i < lines.length; i++) {
      const text = lines[i]!;
      const colon = text.indexOf(':');
      if (colon <= 0) throw new ResponseParseError(`invalid header line ${JSON.stringify(text.slice(0, 80))}`);
      const name = text.slice(0, colon);
      const value = text.slice(colon + 1).trim();
      if (!TOKEN.test(name) || BAD_VALUE.test(value)) throw new ResponseParseError(`invalid header line ${JSON.stringify(text.slice(0, 80))}`);
      rawHeaders.push(name, value);
      const lower = name.length === 14 || name.length === 17 || name.length === 10 ? name.toLowerCase() : '';
      if (lower === 'content-length') {
        if (contentLength !== undefined || !/^\d{1,15}$/.test(value)) throw new ResponseParseError(`invalid or repeated Content-Length ${JSON.stringify(value)}`);
        contentLength = value;
      } else if (lower === 'transfer-encoding') {
        transferEncoding = transferEncoding === undefined ? value : `${transferEncoding}, ${value}`;
      } else if (lower === 'connection') {
        connection += `,${value.toLowerCase()}`;
      }
    }
    const next = end + 4;
    if (statusCode < 200) {
      // An interim response: skipped, the final one follows.
      if (statusCode === 101) throw new ResponseParseError('the server switched protocols, which the proxy never asked for');
      return next;
    }
    const tokens = connection.split(',').map((t) => t.trim());
    this.keepAlive = minor === 1 ? !tokens.includes('close') : tokens.includes('keep-alive');
    this.on.onHead({ statusCode, statusMessage: status[3] ?? '', rawHeaders });
    if (this.headRequest || statusCode === 204 || statusCode === 304) {
      this.end();
      return next;
    }
    if (transferEncoding !== undefined) {
      if (contentLength !== undefined) throw new ResponseParseError('response with both Content-Length and Transfer-Encoding');
      const codings = transferEncoding.toLowerCase().split(',').map((c) => c.trim());
      if (codings.at(-1) === 'chunked') {
        this.state = State.ChunkSize;
      } else {
        this.state = State.UntilClose;
        this.keepAlive = false;
      }
      return next;
    }
    if (contentLength !== undefined) {
      this.remaining = Number(contentLength);
      if (this.remaining === 0) this.end();
      else this.state = State.Length;
      return next;
    }
    this.state = State.UntilClose;
    this.keepAlive = false;
    return next;
  }
}
