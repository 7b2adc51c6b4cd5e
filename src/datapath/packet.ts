/**
 * Builds Ethernet/IPv4 frames for datapath tests (BPF_PROG_TEST_RUN) and
 * benchmarks. Checksums are left zero (the programs never verify them)
 * unless `fillChecksums` is applied, for tests of packet rewrites.
 */
import { ip4ToInt } from './layout.js';

export const TCP_FIN = 0x01;
export const TCP_SYN = 0x02;
export const TCP_RST = 0x04;
export const TCP_PSH = 0x08;
export const TCP_ACK = 0x10;

export interface PacketSpec {
  src: string;
  dst: string;
  proto: 'tcp' | 'udp' | 'icmp' | 'sctp' | number;
  sport?: number;
  dport?: number;
  tcpFlags?: number;
  icmpType?: number;
  icmpId?: number;
  /** For ICMP errors (type 3, 11, 12): the packet the error quotes (IP header + 8 bytes). */
  quoted?: PacketSpec;
  /** IP flags/fragment offset field (for fragment tests). */
  fragOff?: number;
  payload?: number;
}

const PROTO: Record<string, number> = { tcp: 6, udp: 17, icmp: 1, sctp: 132 };

export function buildPacket(s: PacketSpec): Buffer {
  const proto = typeof s.proto === 'number' ? s.proto : PROTO[s.proto]!;
  const quoted = s.quoted ? buildPacket(s.quoted).subarray(14, 14 + 28) : undefined;
  const l4Len = proto === 6 ? 20 : proto === 17 || proto === 132 ? 8 : proto === 1 ? 8 + (quoted?.length ?? 0) : 0;
  const payload = s.payload ?? 0;
  const buf = Buffer.alloc(14 + 20 + l4Len + payload);
  // Ethernet
  Buffer.from([0x02, 0, 0, 0, 0, 2]).copy(buf, 0);
  Buffer.from([0x02, 0, 0, 0, 0, 1]).copy(buf, 6);
  buf.writeUInt16BE(0x0800, 12);
  // IPv4
  const ip = 14;
  buf.writeUInt8(0x45, ip);
  buf.writeUInt16BE(20 + l4Len + payload, ip + 2);
  buf.writeUInt16BE(s.fragOff ?? 0x4000, ip + 6);
  buf.writeUInt8(64, ip + 8);
  buf.writeUInt8(proto, ip + 9);
  buf.writeUInt32BE(ip4ToInt(s.src), ip + 12);
  buf.writeUInt32BE(ip4ToInt(s.dst), ip + 16);
  const l4 = ip + 20;
  if (proto === 6) {
    buf.writeUInt16BE(s.sport ?? 40000, l4);
    buf.writeUInt16BE(s.dport ?? 80, l4 + 2);
    buf.writeUInt8(0x50, l4 + 12);
    buf.writeUInt8(s.tcpFlags ?? TCP_SYN, l4 + 13);
    buf.writeUInt16BE(64240, l4 + 14);
  } else if (proto === 17 || proto === 132) {
    buf.writeUInt16BE(s.sport ?? 40000, l4);
    buf.writeUInt16BE(s.dport ?? 53, l4 + 2);
    buf.writeUInt16BE(8 + payload, l4 + 4);
  } else if (proto === 1) {
    buf.writeUInt8(s.icmpType ?? 8, l4);
    if (quoted) quoted.copy(buf, l4 + 8);
    else buf.writeUInt16BE(s.icmpId ?? 0x1234, l4 + 4);
  }
  return buf;
}

export function buildArp(): Buffer {
  const buf = Buffer.alloc(42);
  buf.fill(0xff, 0, 6);
  buf.writeUInt16BE(0x0806, 12);
  return buf;
}

/** The Internet checksum (RFC 1071) of `buf`, folded, starting from the partial sum `sum`. */
function inetChecksum(buf: Buffer, sum = 0): number {
  for (let i = 0; i + 1 < buf.length; i += 2) sum += buf.readUInt16BE(i);
  if (buf.length % 2) sum += buf[buf.length - 1]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** Offsets of a frame's IPv4 header, L4 header and L4 checksum field (undefined for protocols without one here). */
function l4Layout(frame: Buffer): { ip: number; l4: number; proto: number; csum: number | undefined } {
  const ip = 14;
  const l4 = ip + (frame[ip]! & 0x0f) * 4;
  const proto = frame[ip + 9]!;
  return { ip, l4, proto, csum: proto === 6 ? l4 + 16 : proto === 17 ? l4 + 6 : proto === 1 ? l4 + 2 : undefined };
}

/** The sum of the pseudo-header TCP and UDP checksums cover (ICMP has none: 0). */
function pseudoHeaderSum(frame: Buffer, ip: number, l4: number, proto: number): number {
  if (proto === 1) return 0;
  const len = frame.readUInt16BE(ip + 2) - (l4 - ip);
  return frame.readUInt16BE(ip + 12) + frame.readUInt16BE(ip + 14) + frame.readUInt16BE(ip + 16) + frame.readUInt16BE(ip + 18) + proto + len;
}

/**
 * Fills the IPv4 and TCP/UDP/ICMP checksums of `frame` in place (a UDP checksum
 * is left 0, "none", when `udpZero`). Returns the frame.
 */
export function fillChecksums(frame: Buffer, udpZero = false): Buffer {
  const { ip, l4, proto, csum } = l4Layout(frame);
  frame.writeUInt16BE(0, ip + 10);
  frame.writeUInt16BE(inetChecksum(frame.subarray(ip, l4)), ip + 10);
  if (csum !== undefined) {
    frame.writeUInt16BE(0, csum);
    if (!(proto === 17 && udpZero)) {
      const c = inetChecksum(frame.subarray(l4, ip + frame.readUInt16BE(ip + 2)), pseudoHeaderSum(frame, ip, l4, proto));
      frame.writeUInt16BE(proto === 17 && c === 0 ? 0xffff : c, csum);
    }
  }
  return frame;
}

/** Whether the frame's IPv4 and TCP/UDP/ICMP checksums are right (a UDP checksum of 0 means none). */
export function checksumsValid(frame: Buffer): { ip: boolean; l4: boolean } {
  const { ip, l4, proto, csum } = l4Layout(frame);
  const ipOk = inetChecksum(frame.subarray(ip, l4)) === 0;
  if (csum === undefined || (proto === 17 && frame.readUInt16BE(csum) === 0)) return { ip: ipOk, l4: true };
  return { ip: ipOk, l4: inetChecksum(frame.subarray(l4, ip + frame.readUInt16BE(ip + 2)), pseudoHeaderSum(frame, ip, l4, proto)) === 0 };
}
