/**
 * Pod address allocation from the node's pod CIDR. The agent is the only
 * allocator of its node and allocates synchronously on its event loop, so
 * concurrent CNI ADDs can never get the same address; every change is
 * persisted before it is answered. Address .1 is the node's gateway; the
 * network and broadcast addresses are never handed out.
 */
import { MembraneError } from '../common/errors.js';
import { ip4ToInt } from '../datapath/layout.js';
import { type Cidr, cidrAddress, cidrContains, cidrSize, formatCidr, parseCidr } from './cidr.js';

export interface IpamSnapshot {
  podCIDR: string;
  /** ip -> owner */
  allocations: Record<string, string>;
}

export class Ipam {
  private readonly cidr: Cidr;
  private readonly allocations: Map<string, string>;
  /** Where the next search starts, so a released address is not reused at once. */
  private cursor = 2;

  constructor(podCIDR: string, snapshot: IpamSnapshot | undefined, private readonly persist: (s: IpamSnapshot) => void) {
    this.cidr = parseCidr(podCIDR, 'podCIDR');
    if (this.cidr.prefix > 30) throw new MembraneError('EINVAL', `pod CIDR ${podCIDR} is too small: it needs at least a /30`);
    this.allocations = new Map();
    if (snapshot) {
      if (snapshot.podCIDR !== formatCidr(this.cidr)) {
        throw new MembraneError('ESTATE', `persisted IPAM state is for ${snapshot.podCIDR}, not ${formatCidr(this.cidr)}; remove the agent's state dir to change the node's pod CIDR`);
      }
      for (const [ip, owner] of Object.entries(snapshot.allocations)) this.allocations.set(ip, owner);
    }
  }

  get podCIDR(): string {
    return formatCidr(this.cidr);
  }

  get gateway(): string {
    return cidrAddress(this.cidr, 1);
  }

  get capacity(): number {
    return cidrSize(this.cidr) - 3;
  }

  get allocated(): number {
    return this.allocations.size;
  }

  ownerOf(ip: string): string | undefined {
    return this.allocations.get(ip);
  }

  /** Allocates an address for `owner`; the same owner asking again gets its address back. */
  allocate(owner: string): string {
    for (const [ip, o] of this.allocations) if (o === owner) return ip;
    const size = cidrSize(this.cidr);
    for (let i = 0; i < size - 3; i++) {
      const n = 2 + ((this.cursor - 2 + i) % (size - 3));
      const ip = cidrAddress(this.cidr, n);
      if (!this.allocations.has(ip)) {
        this.allocations.set(ip, owner);
        this.cursor = n + 1 > size - 2 ? 2 : n + 1;
        this.save();
        return ip;
      }
    }
    throw new MembraneError('EEXHAUSTED', `no free address left in pod CIDR ${this.podCIDR} (${this.capacity} in use)`);
  }

  /** Reserves exactly `ip` for `owner` (an address the owner already had). Throws when another owner holds it. */
  assign(ip: string, owner: string): void {
    if (!this.contains(ip)) throw new MembraneError('EINVAL', `${ip} is not in pod CIDR ${this.podCIDR}`);
    const n = (ip4ToInt(ip) - this.cidr.network) >>> 0;
    if (n < 2 || n >= cidrSize(this.cidr) - 1) throw new MembraneError('EINVAL', `${ip} is reserved in pod CIDR ${this.podCIDR} (network, gateway or broadcast)`);
    const holder = this.allocations.get(ip);
    if (holder === owner) return;
    if (holder !== undefined) throw new MembraneError('EEXIST', `${ip} is allocated to ${holder}`);
    this.allocations.set(ip, owner);
    this.save();
  }

  /** Releases an address; releasing a free one is a no-op. Returns whether it was allocated. */
  release(ip: string): boolean {
    if (!this.allocations.delete(ip)) return false;
    this.save();
    return true;
  }

  contains(ip: string): boolean {
    return cidrContains(this.cidr, ip4ToInt(ip));
  }

  snapshot(): IpamSnapshot {
    return { podCIDR: this.podCIDR, allocations: Object.fromEntries(this.allocations) };
  }

  private save(): void {
    this.persist(this.snapshot());
  }
}
