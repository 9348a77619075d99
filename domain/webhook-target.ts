/**
 * Where keyrotor may send a webhook (rotation subscriptions and alert sinks). A webhook URL is chosen by an operator
 * (or by whoever holds an operator token), so without these rules keyrotor would POST wherever it is told, including
 * to the services beside it: its own PostgreSQL and Temporal, a cloud metadata service, anything on the private
 * network. By default only http(s) to public addresses is allowed; an allowlist admits internal receivers on purpose.
 *
 * The rules are applied twice: to the URL when it is configured (its scheme, and its host when that is an address or
 * a loopback name), and to every address its host resolves to at each delivery, which then goes to the address checked
 * (so a name that resolves elsewhere between the check and the connection, DNS rebinding, gains nothing).
 */

export type IpFamily = 4 | 6;

export interface IpAddress {
  family: IpFamily;
  /** The address as a 32- or 128-bit number. */
  value: bigint;
}

/** One entry of the allowlist: a network (an address is a network of one), or a host name; either with a port. */
export type AllowedTarget =
  | { kind: 'network'; text: string; family: IpFamily; network: bigint; prefix: number; port?: number }
  | { kind: 'host'; text: string; host: string; port?: number };

export interface WebhookTarget {
  url: string;
  protocol: 'http:' | 'https:';
  /** The host as the URL names it, without IPv6 brackets, lower case. */
  host: string;
  port: number;
  /** The address when the URL names one instead of a host name. */
  address?: IpAddress;
  /** A host-name entry of the allowlist admits this host whatever it resolves to. */
  hostAllowed: boolean;
}

export type TargetCheck = { ok: true; target: WebhookTarget } | { ok: false; reason: string };
export type AddressCheck = { ok: true; address: IpAddress } | { ok: false; reason: string };

const IPV4_BITS = 32;
const IPV6_BITS = 128;

/** Parses a dotted-quad IPv4 address or a textual IPv6 address (RFC 4291, with an embedded IPv4 tail). */
export function parseIpAddress(text: string): IpAddress | undefined {
  const v4 = parseIpv4(text);
  if (v4 !== undefined) return { family: 4, value: v4 };
  const v6 = parseIpv6(text.replace(/%.*$/, ''));
  return v6 === undefined ? undefined : { family: 6, value: v6 };
}

function parseIpv4(text: string): bigint | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  let value = 0n;
  for (const part of parts) {
    if (!/^(0|[1-9]\d{0,2})$/.test(part) || Number(part) > 255) return undefined;
    value = (value << 8n) | BigInt(part);
  }
  return value;
}

function parseIpv6(text: string): bigint | undefined {
  if (!/^[0-9a-fA-F:.]+$/.test(text)) return undefined;
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const groups = (half: string | undefined): number[] | undefined => {
    if (half === undefined || half === '') return [];
    const out: number[] = [];
    const pieces = half.split(':');
    for (let i = 0; i < pieces.length; i += 1) {
      const piece = pieces[i] as string;
      if (i === pieces.length - 1 && piece.includes('.')) {
        const v4 = parseIpv4(piece);
        if (v4 === undefined) return undefined;
        out.push(Number(v4 >> 16n), Number(v4 & 0xffffn));
      } else if (/^[0-9a-fA-F]{1,4}$/.test(piece)) {
        out.push(parseInt(piece, 16));
      } else {
        return undefined;
      }
    }
    return out;
  };
  const head = groups(halves[0]);
  const tail = groups(halves[1]);
  if (head === undefined || tail === undefined) return undefined;
  if (halves.length === 1 && head.length !== 8) return undefined;
  if (halves.length === 2 && head.length + tail.length > 7) return undefined;
  const all = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  return all.reduce((value, group) => (value << 16n) | BigInt(group), 0n);
}

export function formatIpAddress(address: IpAddress): string {
  if (address.family === 4) return [24n, 16n, 8n, 0n].map((shift) => String((address.value >> shift) & 0xffn)).join('.');
  const groups = Array.from({ length: 8 }, (_, i) => Number((address.value >> BigInt(112 - 16 * i)) & 0xffffn));
  // The longest run of zero groups (at least two) is written as '::' (RFC 5952).
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i += 1;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j += 1;
    if (j - i > bestLength) [bestStart, bestLength] = [i, j - i];
    i = j;
  }
  const hex = groups.map((group) => group.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLength).join(':')}`;
}

interface Network {
  family: IpFamily;
  network: bigint;
  prefix: number;
}

function parseNetwork(text: string): Network {
  const [address, prefix] = text.split('/') as [string, string];
  const parsed = parseIpAddress(address) as IpAddress;
  return { family: parsed.family, network: parsed.value, prefix: Number(prefix) };
}

function contains(network: Network, address: IpAddress): boolean {
  if (network.family !== address.family) return false;
  const shift = BigInt((network.family === 4 ? IPV4_BITS : IPV6_BITS) - network.prefix);
  return address.value >> shift === network.network >> shift;
}

/**
 * The address ranges no webhook may reach unless allowlisted, with what each one is. The longest prefix that contains
 * an address names it (the metadata address inside link-local, the broadcast address inside the reserved block).
 */
const REFUSED_RANGES: ReadonlyArray<{ cidr: string; what: string }> = [
  { cidr: '0.0.0.0/8', what: 'an unspecified ("this network") address' },
  { cidr: '10.0.0.0/8', what: 'a private address' },
  { cidr: '100.64.0.0/10', what: 'a carrier-grade NAT address' },
  { cidr: '127.0.0.0/8', what: 'a loopback address' },
  { cidr: '169.254.0.0/16', what: 'a link-local address' },
  { cidr: '169.254.169.254/32', what: 'the cloud metadata address' },
  { cidr: '172.16.0.0/12', what: 'a private address' },
  { cidr: '192.0.0.0/24', what: 'an IETF protocol assignment address' },
  { cidr: '192.0.2.0/24', what: 'a documentation address' },
  { cidr: '192.168.0.0/16', what: 'a private address' },
  { cidr: '198.18.0.0/15', what: 'a benchmarking address' },
  { cidr: '198.51.100.0/24', what: 'a documentation address' },
  { cidr: '203.0.113.0/24', what: 'a documentation address' },
  { cidr: '224.0.0.0/4', what: 'a multicast address' },
  { cidr: '240.0.0.0/4', what: 'a reserved address' },
  { cidr: '255.255.255.255/32', what: 'the broadcast address' },
  { cidr: '::/128', what: 'the unspecified address' },
  { cidr: '::1/128', what: 'the loopback address' },
  { cidr: '100::/64', what: 'a discard-only address' },
  { cidr: '2001::/32', what: 'a Teredo address' },
  { cidr: '2001:db8::/32', what: 'a documentation address' },
  { cidr: '64:ff9b:1::/48', what: 'a local-use NAT64 address' },
  { cidr: 'fc00::/7', what: 'a unique-local address' },
  { cidr: 'fd00:ec2::254/128', what: 'the cloud metadata address' },
  { cidr: 'fe80::/10', what: 'a link-local address' },
  { cidr: 'fec0::/10', what: 'a site-local address' },
  { cidr: 'ff00::/8', what: 'a multicast address' },
];
const REFUSED = REFUSED_RANGES.map((range) => ({ ...range, ...parseNetwork(range.cidr) })).sort((a, b) => b.prefix - a.prefix);

/**
 * IPv6 forms that carry an IPv4 address a connection may end up at: IPv4-mapped (a dual-stack socket connects to the
 * IPv4 address itself), IPv4-compatible (deprecated), NAT64 (well-known prefix) and 6to4.
 */
const EMBEDDING: ReadonlyArray<{ network: Network; form: string; shift: bigint }> = [
  { network: parseNetwork('::ffff:0:0/96'), form: 'IPv4-mapped', shift: 0n },
  { network: parseNetwork('::/96'), form: 'IPv4-compatible', shift: 0n },
  { network: parseNetwork('64:ff9b::/96'), form: 'NAT64', shift: 0n },
  { network: parseNetwork('2002::/16'), form: '6to4', shift: 80n },
];

function embeddedIpv4(address: IpAddress): { form: string; v4: IpAddress } | undefined {
  if (address.family !== 6) return undefined;
  for (const { network, form, shift } of EMBEDDING) {
    if (contains(network, address)) return { form, v4: { family: 4, value: (address.value >> shift) & 0xffffffffn } };
  }
  return undefined;
}

/** What makes an address unfit for a webhook, or null when it is a public unicast address. */
export function refusedAddressReason(address: IpAddress): string | null {
  const range = REFUSED.find((candidate) => contains(candidate, address));
  if (range) return `${formatIpAddress(address)} is ${range.what} (${range.cidr})`;
  const embedded = embeddedIpv4(address);
  if (embedded) {
    const inner = refusedAddressReason(embedded.v4);
    if (inner !== null) return `${formatIpAddress(address)} is the ${embedded.form} IPv6 form of ${inner}`;
  }
  return null;
}

/** An IPv4-mapped IPv6 address is its IPv4 address for the allowlist too. */
function unmapped(address: IpAddress): IpAddress {
  const embedded = embeddedIpv4(address);
  return embedded?.form === 'IPv4-mapped' ? embedded.v4 : address;
}

const HOST_NAME = /^(?=.{1,253}$)([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*$/;

function parsePort(text: string | undefined): number | undefined | null {
  if (text === undefined) return undefined;
  if (!/^\d{1,5}$/.test(text) || Number(text) < 1 || Number(text) > 65535) return null;
  return Number(text);
}

/**
 * Parses an allowlist entry: `10.0.0.0/8`, `fd00::/8`, `127.0.0.1`, `127.0.0.1:8080`, `[::1]:8080`, `::1`,
 * `hooks.internal` or `hooks.internal:8443`. Answers the entry or what is wrong with it.
 */
export function parseAllowedTarget(raw: string): AllowedTarget | { problem: string } {
  const text = raw.trim();
  const bad = (why: string): { problem: string } => ({ problem: `'${raw}' ${why}; an entry is a network (10.0.0.0/8, fd00::/8), an address with an optional port (127.0.0.1:8080, [::1]:8080) or a host name with an optional port (hooks.internal:8443)` });
  let host = text;
  let portText: string | undefined;
  const bracketed = /^\[([^\]]+)\](?::(.*))?$/.exec(text);
  if (bracketed) {
    host = bracketed[1] as string;
    portText = bracketed[2];
  } else if ((text.match(/:/g) ?? []).length === 1) {
    [host, portText] = text.split(':') as [string, string];
  }
  const port = parsePort(portText);
  if (port === null) return bad('has a port that is not 1–65535');
  const withPort = port === undefined ? {} : { port };
  if (host.includes('/')) {
    const [addressText, prefixText = ''] = host.split('/') as [string, string];
    const address = parseIpAddress(addressText);
    const bits = address?.family === 4 ? IPV4_BITS : IPV6_BITS;
    if (!address || !/^\d{1,3}$/.test(prefixText) || Number(prefixText) > bits) return bad('is not a network');
    const prefix = Number(prefixText);
    const shift = BigInt(bits - prefix);
    if ((address.value >> shift) << shift !== address.value) return bad(`has bits set past its /${prefix} prefix (did you mean ${formatIpAddress({ family: address.family, value: (address.value >> shift) << shift })}/${prefix}?)`);
    return { kind: 'network', text, family: address.family, network: address.value, prefix, ...withPort };
  }
  const address = parseIpAddress(host);
  if (address) {
    const plain = unmapped(address);
    return { kind: 'network', text, family: plain.family, network: plain.value, prefix: plain.family === 4 ? IPV4_BITS : IPV6_BITS, ...withPort };
  }
  const name = host.toLowerCase().replace(/\.$/, '');
  // A last label of digits only is a mistyped address, not a name (no top-level domain is numeric).
  if (!HOST_NAME.test(name) || /(^|\.)\d+$/.test(name)) return bad('is not a network, an address or a host name');
  return { kind: 'host', text, host: name, ...withPort };
}

function portMatches(entry: AllowedTarget, port: number): boolean {
  return entry.port === undefined || entry.port === port;
}

function addressAllowed(address: IpAddress, port: number, allowlist: readonly AllowedTarget[]): boolean {
  const plain = unmapped(address);
  return allowlist.some((entry) => entry.kind === 'network' && portMatches(entry, port) && contains(entry, plain));
}

const ALLOW_HINT = 'to deliver to an internal receiver on purpose, add it to webhooks.allowedTargets (KEYROTOR_WEBHOOK_ALLOW)';

/**
 * Checks a webhook URL before any lookup: its scheme, credentials, and its host when that is an address or a loopback
 * name. A host name that passes still has its addresses checked at each delivery (checkResolvedAddresses).
 */
export function checkWebhookUrl(raw: string, allowlist: readonly AllowedTarget[]): TargetCheck {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { ok: false, reason: 'it is not a valid URL' };
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return { ok: false, reason: `its scheme '${url.protocol.replace(/:$/, '')}' is not http or https` };
  // Credentials in the URL would be shown to every reader of the subscriptions and written to logs.
  if (url.username !== '' || url.password !== '') return { ok: false, reason: 'it carries credentials (user:password@); the signature header authenticates keyrotor to the receiver' };
  const host = url.hostname.replace(/^\[|\]$/g, '').toLowerCase().replace(/\.$/, '');
  const port = url.port === '' ? (url.protocol === 'https:' ? 443 : 80) : Number(url.port);
  const hostAllowed = allowlist.some((entry) => entry.kind === 'host' && entry.host === host && portMatches(entry, port));
  const address = parseIpAddress(host);
  const target: WebhookTarget = { url: url.toString(), protocol: url.protocol, host, port, hostAllowed, ...(address ? { address } : {}) };
  if (address) {
    const refused = refusedAddressReason(address);
    if (refused !== null && !addressAllowed(address, port, allowlist)) return { ok: false, reason: `${refused}; ${ALLOW_HINT}` };
    return { ok: true, target };
  }
  // RFC 6761: localhost and every name under it are loopback, whatever a resolver says.
  if ((host === 'localhost' || host.endsWith('.localhost')) && !hostAllowed) return { ok: false, reason: `${host} is a loopback name; ${ALLOW_HINT}` };
  return { ok: true, target };
}

/**
 * Checks what the target's host resolved to, every address of it: a name that answers with one public and one internal
 * address is refused, since the connection could go to either. Answers the address to connect to.
 */
export function checkResolvedAddresses(target: WebhookTarget, resolved: readonly string[], allowlist: readonly AllowedTarget[]): AddressCheck {
  if (target.address) return { ok: true, address: target.address };
  if (resolved.length === 0) return { ok: false, reason: `${target.host} resolves to no address` };
  let first: IpAddress | undefined;
  for (const text of resolved) {
    const address = parseIpAddress(text);
    if (!address) return { ok: false, reason: `${target.host} resolves to '${text}', which is not an IP address` };
    first ??= address;
    if (target.hostAllowed) continue;
    const refused = refusedAddressReason(address);
    if (refused !== null && !addressAllowed(address, target.port, allowlist)) return { ok: false, reason: `${target.host} resolves to ${refused}; ${ALLOW_HINT}` };
  }
  return { ok: true, address: first as IpAddress };
}
