/**
 * How the cluster DNS server answers one query: zone + decoded query ->
 * response packet, as CoreDNS's kubernetes plugin answers, with no forwarding
 * (nothing ever leaves the machine). Pure: the wire (decode, encode,
 * truncation) is dns-wire.ts's business.
 *
 * The rules, in the order they apply:
 *  1. An opcode other than QUERY gets NOTIMP.
 *  2. Not exactly one question, more than one OPT record, a question of type
 *     OPT, or a name dns-packet cannot echo byte for byte (anything but
 *     printable ASCII) gets FORMERR.
 *  3. An EDNS version other than 0 gets BADVERS (RFC 6891).
 *  4. A class other than IN (or ANY) and zone transfers (AXFR, IXFR) get REFUSED.
 *  5. A name that has records of the asked type (all of them for ANY) gets
 *     them, with the A/AAAA of SRV targets as additional records.
 *  6. A name that exists without such records gets NOERROR and no answers
 *     (NODATA); inside the domain with the SOA in the authority section.
 *  7. Any other name gets NXDOMAIN; inside the domain with the SOA.
 * Answers about names the server holds (the domain, and the reverse names of
 * cluster IPs) are authoritative (AA); an NXDOMAIN outside them is not. The
 * id, the opcode, the RD and CD bits and the question are echoed; RA stays
 * clear, since the server recurses for nobody.
 */
import dnsPacket from 'dns-packet';
import type { Answer, DecodedPacket, OptAnswer, Packet } from 'dns-packet';
import { inDomain, type DnsZone } from './dns-zone.js';

export const Rcode = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;

/** BADVERS (16) is an extended rcode: its upper 8 bits travel in the OPT record. */
const BADVERS_EXTENDED = 16 >> 4;

/** The UDP payload size the server advertises over EDNS: the size that avoids IP fragmentation (DNS flag day 2020). */
export const EDNS_UDP_PAYLOAD_SIZE = 1232;

const OPCODE_QUERY = 0;
const OPCODE_SHIFT = 11;
const OPCODE_MASK = 0xf;

/** A response under construction, with its header bits spelled out. */
interface Reply {
  rcode: number;
  authoritative?: boolean;
  answers?: Answer[];
  authorities?: Answer[];
  additionals?: Answer[];
  /** BADVERS and friends: the upper bits of a 12-bit rcode. */
  extendedRcode?: number;
}

/** Answers `query` from `zone`. Never throws for any query dns-packet decoded. */
export function answerQuery(zone: DnsZone, query: DecodedPacket): Packet {
  const opcode = ((query.flags ?? 0) >> OPCODE_SHIFT) & OPCODE_MASK;
  const opts = (query.additionals ?? []).filter((r): r is OptAnswer => r.type === 'OPT');
  const respond = (reply: Reply): Packet => {
    const flags = (opcode << OPCODE_SHIFT)
      | (query.flag_rd ? dnsPacket.RECURSION_DESIRED : 0)
      | (query.flag_cd ? dnsPacket.CHECKING_DISABLED : 0)
      | (reply.authoritative ? dnsPacket.AUTHORITATIVE_ANSWER : 0)
      | reply.rcode;
    // RFC 6891: a query with an OPT record gets one back, saying what the server takes.
    const opt: OptAnswer[] = opts.length === 0 ? [] : [{
      type: 'OPT', name: '.', udpPayloadSize: EDNS_UDP_PAYLOAD_SIZE, extendedRcode: reply.extendedRcode ?? 0,
      ednsVersion: 0, flags: 0, flag_do: false, options: [],
    }];
    return {
      id: query.id ?? 0,
      type: 'response',
      flags,
      questions: query.questions ?? [],
      answers: reply.answers ?? [],
      authorities: reply.authorities ?? [],
      additionals: [...(reply.additionals ?? []), ...opt],
    };
  };

  if (opcode !== OPCODE_QUERY) return respond({ rcode: Rcode.NOTIMP });
  const questions = query.questions ?? [];
  const question = questions[0];
  if (questions.length !== 1 || question === undefined || opts.length > 1) return respond({ rcode: Rcode.FORMERR });
  if (question.type === 'OPT' || !/^[\x21-\x7e]+$/.test(question.name)) return respond({ rcode: Rcode.FORMERR });
  if (opts[0] !== undefined && opts[0].ednsVersion !== 0) return respond({ rcode: Rcode.NOERROR, extendedRcode: BADVERS_EXTENDED });
  const qclass = question.class ?? 'IN';
  if ((qclass !== 'IN' && qclass !== 'ANY') || question.type === 'AXFR' || question.type === 'IXFR') return respond({ rcode: Rcode.REFUSED });

  const name = question.name.toLowerCase().replace(/\.$/, '');
  const inside = inDomain(name, zone.domain);
  const negative = inside ? { authoritative: true, authorities: [zone.soa] } : {};
  if (!zone.names.has(name)) return respond({ rcode: Rcode.NXDOMAIN, ...negative });

  const owned = zone.records.get(name) ?? [];
  const matching = (question.type as string) === 'ANY' ? owned : owned.filter((r) => r.type === question.type);
  if (matching.length === 0) return respond({ rcode: Rcode.NOERROR, ...negative, authoritative: true });
  return respond({
    rcode: Rcode.NOERROR,
    authoritative: true,
    // The owner name is written as asked, so a resolver that randomizes case (DNS 0x20) finds its own spelling.
    answers: matching.map((r) => ({ ...r, name: question.name })),
    additionals: srvTargetAddresses(zone, matching),
  });
}

/** The A/AAAA records of the targets of the SRV records among `answers`, each once. */
function srvTargetAddresses(zone: DnsZone, answers: readonly Answer[]): Answer[] {
  const targets = new Set(answers.flatMap((r) => (r.type === 'SRV' ? [r.data.target] : [])));
  return [...targets].flatMap((t) => (zone.records.get(t) ?? []).filter((r) => r.type === 'A' || r.type === 'AAAA'));
}
