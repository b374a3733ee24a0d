import { describe, expect, it } from '@jest/globals';
import {
  addressKind,
  addressRefusal,
  checkResolved,
  OutboundUrlError,
  outboundTarget,
  PUBLIC_ONLY,
  type OutboundPolicy,
} from '../../lambdas/core/outbound/url-policy.ts';

const LOCAL: OutboundPolicy = { allowLoopback: true };

/** The outbound URL policy (core/outbound/url-policy.ts): address ranges, URL rules, resolved names. */
describe('outbound URL policy', () => {
  it.each([
    ['0.0.0.0', 'unspecified'],
    ['0.1.2.3', 'unspecified'],
    ['10.0.0.1', 'private'],
    ['10.255.255.255', 'private'],
    ['100.64.0.1', 'shared (CGNAT)'],
    ['100.127.255.254', 'shared (CGNAT)'],
    ['127.0.0.1', 'loopback'],
    ['127.200.1.1', 'loopback'],
    ['169.254.169.254', 'link-local'],
    ['169.254.170.2', 'link-local'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.0.0.192', 'reserved'],
    ['192.0.2.1', 'documentation'],
    ['192.88.99.1', 'reserved'],
    ['192.168.1.1', 'private'],
    ['198.18.0.1', 'reserved'],
    ['198.51.100.7', 'documentation'],
    ['203.0.113.9', 'documentation'],
    ['224.0.0.1', 'multicast'],
    ['239.255.255.250', 'multicast'],
    ['240.0.0.1', 'reserved'],
    ['255.255.255.255', 'broadcast'],
  ])('IPv4 %s is %s', (address, kind) => {
    expect(addressKind(address)).toBe(kind);
    expect(addressRefusal(address, PUBLIC_ONLY)).toBe(`${address}, a ${kind} address`);
  });

  it.each(['8.8.8.8', '1.1.1.1', '93.184.216.34', '100.63.255.255', '100.128.0.0', '172.15.255.255', '172.32.0.0', '169.253.255.255', '223.255.255.255'])(
    'IPv4 %s is public',
    (address) => {
      expect(addressKind(address)).toBe('public');
      expect(addressRefusal(address, PUBLIC_ONLY)).toBeUndefined();
    },
  );

  it.each([
    ['::', 'unspecified'],
    ['::1', 'loopback'],
    ['0:0:0:0:0:0:0:1', 'loopback'],
    ['fe80::1', 'link-local'],
    ['fe80::1%eth0', 'link-local'],
    ['febf::1', 'link-local'],
    ['fd00:ec2::254', 'link-local'],
    ['fc00::1', 'private'],
    ['fd12:3456::1', 'private'],
    ['fec0::1', 'reserved'],
    ['ff02::1', 'multicast'],
    ['ff0e::1', 'multicast'],
    ['100::1', 'reserved'],
    ['2001::1', 'reserved'], // Teredo
    ['2001:2::1', 'reserved'],
    ['2001:db8::1', 'documentation'],
    ['2002:c0a8:101::1', 'reserved'], // 6to4 of 192.168.1.1
    ['3fff::1', 'documentation'],
    ['64:ff9b:1::a00:1', 'reserved'],
    ['::127.0.0.1', 'reserved'], // IPv4-compatible (deprecated)
    ['::ffff:0:7f00:1', 'reserved'], // IPv4-translated
    ['4000::1', 'reserved'], // outside 2000::/3
  ])('IPv6 %s is %s', (address, kind) => {
    expect(addressKind(address)).toBe(kind);
    expect(addressRefusal(address, PUBLIC_ONLY)).toBeDefined();
  });

  it.each([
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['0:0:0:0:0:ffff:7f00:0001', 'loopback'],
    ['::ffff:10.1.2.3', 'private'],
    ['::ffff:169.254.169.254', 'link-local'],
    ['::ffff:a9fe:a9fe', 'link-local'],
    ['::ffff:100.64.0.1', 'shared (CGNAT)'],
    ['::ffff:224.0.0.1', 'multicast'],
    ['::ffff:0.0.0.0', 'unspecified'],
  ])('IPv4-mapped %s is judged as the IPv4 address: %s', (address, kind) => {
    expect(addressKind(address)).toBe(kind);
  });

  it.each([
    ['64:ff9b::10.0.0.1', 'private (through NAT64)'],
    ['64:ff9b::a9fe:a9fe', 'link-local (through NAT64)'],
    ['64:ff9b::127.0.0.1', 'loopback (through NAT64)'],
    ['64:ff9b::c0a8:1', 'private (through NAT64)'],
    ['64:ff9b::', 'unspecified (through NAT64)'],
  ])('NAT64 %s is judged by the IPv4 address it embeds: %s', (address, kind) => {
    expect(addressKind(address)).toBe(kind);
    // Never the loopback exception: that would be the translator's loopback.
    expect(addressRefusal(address, LOCAL)).toBeDefined();
  });

  it.each(['2606:4700:4700::1111', '2a00:1450:4001:80b::200e', '64:ff9b::8.8.8.8', '::ffff:8.8.8.8', '2001:4860:4860::8888'])(
    'IPv6 %s is public',
    (address) => {
      expect(addressKind(address)).toBe('public');
    },
  );

  it('lets only loopback through under the loopback exception, and plain http only to loopback', () => {
    for (const address of ['127.0.0.1', '127.0.0.53', '::1', '::ffff:127.0.0.1']) {
      expect(addressRefusal(address, LOCAL)).toBeUndefined();
      expect(addressRefusal(address, LOCAL, 'http:')).toBeUndefined();
      expect(addressRefusal(address, PUBLIC_ONLY)).toMatch(/loopback address/);
    }
    for (const address of ['10.0.0.1', '169.254.169.254', 'fd00:ec2::254', '0.0.0.0', '::']) expect(addressRefusal(address, LOCAL)).toBeDefined();
    expect(addressRefusal('8.8.8.8', LOCAL, 'http:')).toMatch(/plain http only reaches loopback/);
  });

  describe('URLs', () => {
    const refused = (url: string, policy: OutboundPolicy, pattern: RegExp) => {
      expect(() => outboundTarget(url, policy)).toThrow(OutboundUrlError);
      expect(() => outboundTarget(url, policy)).toThrow(pattern);
    };

    it('allows public https URLs, names and literals', () => {
      expect(outboundTarget('https://sp.example.com/saml/ars', PUBLIC_ONLY)).toMatchObject({ host: 'sp.example.com', literal: false });
      expect(outboundTarget('https://sp.example.com./ars', PUBLIC_ONLY).host).toBe('sp.example.com');
      expect(outboundTarget('https://93.184.216.34:8443/ars', PUBLIC_ONLY)).toMatchObject({ host: '93.184.216.34', literal: true });
      expect(outboundTarget('https://[2606:4700:4700::1111]/jwks', PUBLIC_ONLY)).toMatchObject({ host: '2606:4700:4700::1111', literal: true });
    });

    it('requires https outside the loopback exception', () => {
      refused('http://sp.example.com/ars', PUBLIC_ONLY, /must be https/);
      refused('http://127.0.0.1:8080/ars', PUBLIC_ONLY, /must be https/);
      refused('ftp://sp.example.com/md', PUBLIC_ONLY, /must be https/);
      refused('file:///etc/passwd', LOCAL, /must be https/);
      refused('gopher://127.0.0.1:6379/_INFO', LOCAL, /must be https/);
      // Under the exception, plain http reaches loopback hosts only.
      refused('http://sp.example.com/ars', LOCAL, /must be https/);
      refused('http://10.0.0.1/ars', LOCAL, /must be https/);
      expect(outboundTarget('http://127.0.0.1:8080/ars', LOCAL).literal).toBe(true);
      expect(outboundTarget('http://[::1]:8080/ars', LOCAL).host).toBe('::1');
      expect(outboundTarget('http://localhost:8080/ars', LOCAL).host).toBe('localhost');
    });

    it('refuses literals of every non-public range, however the URL writes them', () => {
      refused('https://127.0.0.1/', PUBLIC_ONLY, /loopback address/);
      refused('https://[::1]/', PUBLIC_ONLY, /loopback address/);
      refused('https://0x7f.1/', PUBLIC_ONLY, /127\.0\.0\.1, a loopback address/);
      refused('https://2130706433/', PUBLIC_ONLY, /127\.0\.0\.1, a loopback address/);
      refused('https://0177.0.0.1/', PUBLIC_ONLY, /loopback address/);
      refused('https://169.254.169.254/latest/meta-data/', LOCAL, /link-local address/);
      refused('https://[fd00:ec2::254]/latest/meta-data/', LOCAL, /link-local address/);
      refused('https://[::ffff:169.254.169.254]/', LOCAL, /link-local address/);
      refused('https://[64:ff9b::a9fe:a9fe]/', LOCAL, /through NAT64/);
      refused('https://10.1.2.3/', LOCAL, /private address/);
      refused('https://100.100.100.200/', LOCAL, /CGNAT/);
      refused('https://0.0.0.0:8080/', LOCAL, /unspecified address/);
      refused('https://255.255.255.255/', LOCAL, /broadcast address/);
      refused('https://[ff02::1]/', LOCAL, /multicast address/);
    });

    it('refuses localhost names without the exception, credentials, and non-URLs', () => {
      refused('https://localhost/jwks', PUBLIC_ONLY, /loopback name/);
      refused('https://idp.localhost/jwks', PUBLIC_ONLY, /loopback name/);
      refused('https://LOCALHOST./jwks', PUBLIC_ONLY, /loopback name/);
      refused('https://user:secret@sp.example.com/', PUBLIC_ONLY, /credentials/);
      refused('not a url', PUBLIC_ONLY, /absolute URL/);
      refused(`https://sp.example.com/${'a'.repeat(2100)}`, PUBLIC_ONLY, /at most 2048/);
    });
  });

  describe('resolved names', () => {
    const target = (url: string, policy: OutboundPolicy = PUBLIC_ONLY) => outboundTarget(url, policy);

    it('accepts a name whose every address is public', () => {
      expect(() => checkResolved(target('https://sp.example.com/'), ['93.184.216.34', '2606:2800:220:1:248:1893:25c8:1946'], PUBLIC_ONLY)).not.toThrow();
    });

    it.each([
      [['10.0.0.7'], /sp\.example\.com: it resolves to 10\.0\.0\.7, a private address/],
      [['93.184.216.34', '127.0.0.1'], /loopback/],
      [['93.184.216.34', '169.254.169.254'], /link-local/],
      [['::ffff:192.168.0.1'], /private/],
      [['fd00:ec2::254'], /link-local/],
      [['64:ff9b::a00:1'], /NAT64/],
      [[], /resolves to no address/],
    ])('refuses a name resolving to %j', (addresses, pattern) => {
      expect(() => checkResolved(target('https://sp.example.com/'), addresses, PUBLIC_ONLY)).toThrow(pattern);
    });

    it('under the exception, a loopback name must resolve to loopback only for plain http', () => {
      expect(() => checkResolved(target('http://localhost:9/', LOCAL), ['127.0.0.1', '::1'], LOCAL)).not.toThrow();
      expect(() => checkResolved(target('http://localhost:9/', LOCAL), ['93.184.216.34'], LOCAL)).toThrow(/plain http only reaches loopback/);
      expect(() => checkResolved(target('https://sp.example.com/', LOCAL), ['127.0.0.1'], LOCAL)).not.toThrow();
      expect(() => checkResolved(target('https://sp.example.com/', LOCAL), ['10.0.0.1'], LOCAL)).toThrow(/private/);
    });
  });
});
