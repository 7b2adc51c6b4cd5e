/**
 * One DNS message in, one out: decoding, the FORMERR for what does not
 * decode, encoding, and UDP truncation. Pure (bytes -> bytes); the sockets
 * are dns-server.ts's.
 */
import dnsPacket from 'dns-packet';
import type { DecodedPacket, Packet } from 'dns-packet';
import { answerQuery, Rcode } from './dns-answer.js';
import type { DnsZone } from './dns-zone.js';

/** The classic limit of a DNS message over UDP, for clients that do not speak EDNS (RFC 1035). */
export const UDP_CLASSIC_LIMIT = 512;
/** The largest UDP answer the server sends even to a client that advertises more. */
const UDP_MAX_LIMIT = 4096;
/** A TCP message carries a 16-bit length. */
const TCP_LIMIT = 65535;

const HEADER_BYTES = 12;
const QR_BIT = 0x8000;
/** The opcode and RD bits of a query's flags, echoed even in a FORMERR. */
const OPCODE_AND_RD = 0x7900;

export type DnsTransport = 'udp' | 'tcp';

/**
 * The response bytes for the DNS message `message` that came in over
 * `transport`, or undefined when nothing should be sent back: a message
 * shorter than a header (it cannot be a query), or a response (answering
 * responses could loop two servers forever). Never throws.
 */
export function handleDnsMessage(zone: DnsZone, message: Buffer, transport: DnsTransport): Buffer | undefined {
  if (message.length < HEADER_BYTES) return undefined;
  const flags = message.readUInt16BE(2);
  if ((flags & QR_BIT) !== 0) return undefined;
  let query: DecodedPacket;
  try {
    query = dnsPacket.decode(message);
  } catch {
    return formatError(message.readUInt16BE(0), flags);
  }
  const limit = transport === 'tcp' ? TCP_LIMIT : udpLimit(query);
  try {
    return encodeWithin(answerQuery(zone, query), limit);
  } catch {
    // Only a question dns-packet decoded but cannot encode again gets here.
    return formatError(message.readUInt16BE(0), flags);
  }
}

/**
 * How large a UDP answer to `query` may be: what its EDNS OPT record
 * advertises (RFC 6891), else 512 bytes.
 */
export function udpLimit(query: DecodedPacket): number {
  const opt = query.additionals?.find((r) => r.type === 'OPT');
  if (opt === undefined || opt.type !== 'OPT') return UDP_CLASSIC_LIMIT;
  return Math.min(Math.max(opt.udpPayloadSize, UDP_CLASSIC_LIMIT), UDP_MAX_LIMIT);
}

/**
 * Encodes `response`; when it is larger than `limit`, sends the header and
 * the question alone with TC set instead (and the OPT record), so the client
 * asks again over TCP.
 */
export function encodeWithin(response: Packet, limit: number): Buffer {
  const full = dnsPacket.encode(response);
  if (full.length <= limit) return full;
  return dnsPacket.encode({
    ...response,
    flags: (response.flags ?? 0) | dnsPacket.TRUNCATED_RESPONSE,
    answers: [],
    authorities: [],
    additionals: (response.additionals ?? []).filter((r) => r.type === 'OPT'),
  });
}

/** A FORMERR with no question, for a message that does not decode: only its id and flags are trusted. */
function formatError(id: number, queryFlags: number): Buffer {
  return dnsPacket.encode({ id, type: 'response', flags: (queryFlags & OPCODE_AND_RD) | Rcode.FORMERR });
}
