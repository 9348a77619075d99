import {
  checkResolvedAddresses,
  checkWebhookUrl,
  formatIpAddress,
  parseAllowedTarget,
  parseIpAddress,
  type AllowedTarget,
  type WebhookTarget,
} from '../../../domain/webhook-target';

const allow = (...entries: string[]): AllowedTarget[] =>
  entries.map((entry) => {
    const parsed = parseAllowedTarget(entry);
    if ('problem' in parsed) throw new Error(parsed.problem);
    return parsed;
  });

const reasonOf = (url: string, allowlist: AllowedTarget[] = []): string => {
  const check = checkWebhookUrl(url, allowlist);
  if (check.ok) throw new Error(`${url} was accepted`);
  return check.reason;
};

const targetOf = (url: string, allowlist: AllowedTarget[] = []): WebhookTarget => {
  const check = checkWebhookUrl(url, allowlist);
  if (!check.ok) throw new Error(`${url} was refused: ${check.reason}`);
  return check.target;
};

describe('webhook targets', () => {
  it('refuses every internal, special or non-public address by default, naming what it is', () => {
    const cases: Array<[string, RegExp]> = [
      ['http://127.0.0.1:54329/', /127\.0\.0\.1 is a loopback address \(127\.0\.0\.0\/8\)/],
      ['http://127.1.2.3:7233/', /loopback/],
      ['http://0.0.0.0/', /unspecified/],
      ['http://[::]/', /:: is the unspecified address/],
      ['http://[::1]:7233/', /::1 is the loopback address/],
      ['http://169.254.169.254/latest/meta-data/', /169\.254\.169\.254 is the cloud metadata address/],
      ['http://[fd00:ec2::254]/', /fd00:ec2::254 is the cloud metadata address/],
      ['http://169.254.10.1/', /link-local/],
      ['http://[fe80::1]/', /link-local/],
      ['http://10.1.2.3/', /private address \(10\.0\.0\.0\/8\)/],
      ['http://172.16.0.1/', /private address \(172\.16\.0\.0\/12\)/],
      ['http://172.31.255.255/', /private/],
      ['http://192.168.1.1/', /private address \(192\.168\.0\.0\/16\)/],
      ['http://100.64.0.1/', /carrier-grade NAT/],
      ['http://100.127.255.254/', /carrier-grade NAT/],
      ['http://[fc00::1]/', /unique-local/],
      ['http://[fdab:1::1]/', /unique-local/],
      ['http://[::ffff:127.0.0.1]/', /::ffff:7f00:1 is the IPv4-mapped IPv6 form of 127\.0\.0\.1 is a loopback address/],
      ['http://[::ffff:169.254.169.254]/', /IPv4-mapped IPv6 form of 169\.254\.169\.254 is the cloud metadata address/],
      ['http://[::ffff:10.0.0.1]/', /IPv4-mapped .* private/],
      ['http://[64:ff9b::a00:1]/', /NAT64 .* private/],
      ['http://[2002:7f00:1::]/', /6to4 .* loopback/],
      ['http://224.0.0.1/', /multicast/],
      ['http://[ff02::1]/', /multicast/],
      ['http://255.255.255.255/', /the broadcast address/],
      // Other spellings of 127.0.0.1 that URL parsers accept.
      ['http://2130706433/', /127\.0\.0\.1 is a loopback address/],
      ['http://0x7f.1/', /127\.0\.0\.1 is a loopback address/],
      ['http://localhost:8080/', /localhost is a loopback name/],
      ['http://LOCALHOST./', /localhost is a loopback name/],
      ['http://api.localhost/', /api\.localhost is a loopback name/],
    ];
    for (const [url, reason] of cases) {
      const refused = reasonOf(url);
      expect({ url, refused }).toEqual({ url, refused: expect.stringMatching(reason) });
      expect(refused).toContain('webhooks.allowedTargets (KEYROTOR_WEBHOOK_ALLOW)');
    }
  });

  it('refuses schemes other than http and https, credentials in the URL, and what is not a URL', () => {
    expect(reasonOf('ftp://hooks.example.com/')).toBe("its scheme 'ftp' is not http or https");
    expect(reasonOf('file:///etc/passwd')).toBe("its scheme 'file' is not http or https");
    expect(reasonOf('gopher://hooks.example.com:70/')).toBe("its scheme 'gopher' is not http or https");
    expect(reasonOf('https://user:pass@hooks.example.com/')).toMatch(/carries credentials/);
    expect(reasonOf('not a url')).toBe('it is not a valid URL');
    // The allowlist admits receivers, never other schemes.
    expect(reasonOf('ftp://127.0.0.1/', allow('127.0.0.1'))).toMatch(/scheme 'ftp'/);
  });

  it('accepts public addresses and host names, which are checked again when resolved', () => {
    for (const url of ['https://hooks.example.com/keyrotor', 'http://93.184.216.34:8080/x', 'http://172.32.0.1/', 'http://100.128.0.1/', 'http://[2606:4700::1111]/', 'http://[::ffff:93.184.216.34]/', 'http://169.255.0.1/']) {
      expect(checkWebhookUrl(url, []).ok).toBe(true);
    }
    expect(targetOf('https://Hooks.Example.com/a?b=c')).toEqual({ url: 'https://hooks.example.com/a?b=c', protocol: 'https:', host: 'hooks.example.com', port: 443, hostAllowed: false });
    expect(targetOf('http://93.184.216.34/')).toMatchObject({ port: 80, address: parseIpAddress('93.184.216.34') });
  });

  it('admits allowlisted receivers: a network, an address with or without a port, a host name', () => {
    expect(checkWebhookUrl('http://127.0.0.1:4000/hook', allow('127.0.0.1')).ok).toBe(true);
    expect(checkWebhookUrl('http://127.0.0.1:4000/hook', allow('127.0.0.0/8')).ok).toBe(true);
    expect(checkWebhookUrl('http://127.0.0.1:4000/hook', allow('127.0.0.1:4000')).ok).toBe(true);
    expect(reasonOf('http://127.0.0.1:54329/', allow('127.0.0.1:4000'))).toMatch(/loopback/);
    expect(checkWebhookUrl('http://[::ffff:127.0.0.1]:4000/', allow('127.0.0.1')).ok).toBe(true);
    expect(checkWebhookUrl('http://[::1]:9000/', allow('[::1]:9000')).ok).toBe(true);
    expect(checkWebhookUrl('http://10.20.30.40/', allow('10.0.0.0/8')).ok).toBe(true);
    // A private range allowed does not open the metadata address, nor other ranges.
    expect(reasonOf('http://169.254.169.254/', allow('10.0.0.0/8'))).toMatch(/cloud metadata/);
    expect(reasonOf('http://192.168.0.1/', allow('10.0.0.0/8'))).toMatch(/private/);
    expect(checkWebhookUrl('http://localhost:3000/', allow('localhost:3000')).ok).toBe(true);
    expect(checkWebhookUrl('http://localhost:3001/', allow('localhost:3000')).ok).toBe(false);
    // https defaults to 443 for a host entry with a port.
    expect(targetOf('https://hooks.internal/', allow('hooks.internal:443')).hostAllowed).toBe(true);
  });

  it('checks every address a host name resolves to and answers the one to connect to', () => {
    const target = targetOf('https://hooks.example.com/');
    expect(checkResolvedAddresses(target, ['93.184.216.34', '2606:2800:220:1::1'], [])).toEqual({ ok: true, address: parseIpAddress('93.184.216.34') });
    // One internal address among public ones refuses the delivery: the connection could go to either.
    expect(checkResolvedAddresses(target, ['93.184.216.34', '127.0.0.1'], [])).toEqual({ ok: false, reason: expect.stringMatching(/^hooks\.example\.com resolves to 127\.0\.0\.1 is a loopback address/) });
    expect(checkResolvedAddresses(target, ['::ffff:169.254.169.254'], [])).toMatchObject({ ok: false, reason: expect.stringMatching(/cloud metadata/) });
    expect(checkResolvedAddresses(target, [], [])).toEqual({ ok: false, reason: 'hooks.example.com resolves to no address' });
    expect(checkResolvedAddresses(target, ['10.1.1.1'], allow('10.0.0.0/8'))).toEqual({ ok: true, address: parseIpAddress('10.1.1.1') });
    expect(checkResolvedAddresses(target, ['10.1.1.1'], allow('10.0.0.0/8:8443'))).toMatchObject({ ok: false });
    const named = targetOf('https://hooks.internal/', allow('hooks.internal'));
    expect(checkResolvedAddresses(named, ['10.9.9.9'], allow('hooks.internal'))).toEqual({ ok: true, address: parseIpAddress('10.9.9.9') });
    // An address in the URL is the address: nothing to resolve.
    const literal = targetOf('http://93.184.216.34/');
    expect(checkResolvedAddresses(literal, [], [])).toEqual({ ok: true, address: parseIpAddress('93.184.216.34') });
  });

  it('parses allowlist entries and says what is wrong with a bad one', () => {
    expect(parseAllowedTarget('10.0.0.0/8')).toEqual({ kind: 'network', text: '10.0.0.0/8', family: 4, network: 0x0a000000n, prefix: 8 });
    expect(parseAllowedTarget('[::1]:8080')).toEqual({ kind: 'network', text: '[::1]:8080', family: 6, network: 1n, prefix: 128, port: 8080 });
    expect(parseAllowedTarget('fd00::/8')).toMatchObject({ kind: 'network', family: 6, prefix: 8 });
    expect(parseAllowedTarget('Hooks.Internal:8443')).toEqual({ kind: 'host', text: 'Hooks.Internal:8443', host: 'hooks.internal', port: 8443 });
    for (const bad of ['10.0.0.1/8', '10.0.0.0/33', '300.1.1.1', 'host:0', 'host:99999', 'a b', '', '1.2.3']) {
      expect(parseAllowedTarget(bad)).toEqual({ problem: expect.stringContaining(`'${bad}'`) });
    }
    expect(parseAllowedTarget('10.0.0.1/8')).toEqual({ problem: expect.stringContaining('did you mean 10.0.0.0/8?') });
  });

  it('parses and prints IP addresses', () => {
    for (const text of ['0.0.0.0', '255.255.255.255', '::', '::1', 'fe80::1', '2001:db8::8:800:200c:417a', 'fd00:ec2::254', '1:2:3:4:5:6:7:8', '::ffff:7f00:1']) {
      expect(formatIpAddress(parseIpAddress(text)!)).toBe(text);
    }
    expect(formatIpAddress(parseIpAddress('::ffff:127.0.0.1')!)).toBe('::ffff:7f00:1');
    for (const bad of ['1.2.3', '01.2.3.4', '1.2.3.256', ':::', '1::2::3', '1:2:3:4:5:6:7:8:9', 'example.com', '']) expect(parseIpAddress(bad)).toBeUndefined();
  });
});
