/**
 * The address a connection counts as (per-address connection caps, address quarantine, security logs). Behind a
 * reverse proxy every socket's peer is the proxy, so one address would hold every client: with trustProxy set, a
 * peer on that list is taken at its word, and the client is the nearest X-Forwarded-For hop that is not itself a
 * trusted proxy (each proxy appends the address it received from, so entries left of an untrusted hop may be forged
 * by the client and are never read).
 */
import net from 'node:net';

/** `::ffff:a.b.c.d` (an IPv4 client on a dual-stack socket) as a.b.c.d, so one client has one address. */
function normalize(addr: string): string {
  const a = addr.trim();
  const m = /^(?:0{0,4}:){0,5}:?ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(a);
  return m ? (m[1] as string) : a;
}

/** A request's headers, every line of each (uWS's HttpRequest.forEach; its getHeader gives the first line only). */
export interface RequestHeaders {
  forEach(cb: (key: string, value: string) => void): void;
}

/**
 * Every X-Forwarded-For line of a request, in order, as one comma-separated list (RFC 9110 5.3: several lines of a
 * header are one list). Reading the first line alone would let a client put its own line first, ahead of the one its
 * proxy appended, and pick the address it is counted as. Undefined when there is none.
 */
export function forwardedFor(req: RequestHeaders): string | undefined {
  let out: string | undefined;
  req.forEach((key, value) => {
    // uWS gives header names in lower case.
    if (key === 'x-forwarded-for') out = out === undefined ? value : `${out},${value}`;
  });
  return out;
}

export class ClientAddresses {
  private readonly trusted = new net.BlockList();
  private readonly any: boolean;

  /** `proxies`: IP addresses and CIDR blocks (validated by the config: addressOrBlockProblem). */
  constructor(proxies: readonly string[]) {
    for (const p of proxies) {
      const slash = p.indexOf('/');
      const addr = normalize(slash < 0 ? p : p.slice(0, slash));
      const family = net.isIP(addr) === 6 ? 'ipv6' : 'ipv4';
      if (slash < 0) this.trusted.addAddress(addr, family);
      else this.trusted.addSubnet(addr, Number(p.slice(slash + 1)), family);
    }
    this.any = proxies.length > 0;
  }

  private trusts(addr: string): boolean {
    const family = net.isIP(addr);
    return family !== 0 && this.trusted.check(addr, family === 6 ? 'ipv6' : 'ipv4');
  }

  /**
   * The client's address: the peer's, unless the peer is a trusted proxy; then the rightmost X-Forwarded-For entry
   * that is not a trusted proxy (the peer's when the header is absent, or holds only trusted proxies or something
   * that is not an address).
   */
  of(peer: string, forwardedFor: string | undefined): string {
    const p = normalize(peer);
    if (!this.any || !forwardedFor || !this.trusts(p)) return p;
    const hops = forwardedFor.split(',');
    for (let i = hops.length - 1; i >= 0; i--) {
      const hop = normalize(hops[i] as string);
      if (net.isIP(hop) === 0) return p;
      if (!this.trusts(hop)) return hop;
    }
    return p;
  }

  /** `of` for a request: its X-Forwarded-For lines are read (all of them) only when the peer is a trusted proxy. */
  ofRequest(peer: string, req: RequestHeaders): string {
    const p = normalize(peer);
    return this.any && this.trusts(p) ? this.of(p, forwardedFor(req)) : p;
  }

  /** `ofRequest` for a uWS request (an upgrade or an HTTP request), its peer read from the response; read it before any await. */
  ofUws(res: { getRemoteAddressAsText(): ArrayBuffer }, req: RequestHeaders): string {
    return this.ofRequest(Buffer.from(res.getRemoteAddressAsText()).toString(), req);
  }
}
