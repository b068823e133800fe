import { expect } from 'chai';
import { findConflicts, formatIpv4, networksOverlap, parseCidr, parseIpv4 } from './address-range.js';

describe('lab address range check', () => {
  const lab = parseCidr('198.51.100.0/24');

  it('parses and formats IPv4 addresses', () => {
    expect(formatIpv4(parseIpv4('198.51.100.11'))).to.equal('198.51.100.11');
    expect(() => parseIpv4('198.51.100.256')).to.throw('Not an IPv4 address.');
    expect(() => parseCidr('198.51.100.0/33')).to.throw('Not an IPv4 CIDR.');
  });

  it('treats a network and anything inside or around it as overlapping', () => {
    expect(networksOverlap(lab, parseCidr('198.51.100.7'))).to.equal(true);
    expect(networksOverlap(lab, parseCidr('198.51.0.0/16'))).to.equal(true);
    expect(networksOverlap(lab, parseCidr('192.0.2.0/24'))).to.equal(false);
    expect(networksOverlap(lab, parseCidr('0.0.0.0/0'))).to.equal(true);
  });

  it('ignores the default route but reports addresses and routes in the range', () => {
    const conflicts = findConflicts(
      lab,
      [
        { ifname: 'eth0', addr_info: [{ local: '192.0.2.2', prefixlen: 24 }] },
        { ifname: 'tun0', addr_info: [{ local: '198.51.100.9', prefixlen: 32 }] },
      ],
      [{ dst: 'default', dev: 'eth0' }, { dst: '198.51.0.0/16', dev: 'wg0' }, { dst: '192.0.2.0/24', dev: 'eth0' }],
    );
    expect(conflicts).to.deep.equal(['address 198.51.100.9/32 on tun0', 'route 198.51.0.0/16 via wg0 in table main']);
  });

  it('finds nothing on a host that only has the sandbox uplink', () => {
    const conflicts = findConflicts(
      lab,
      [{ ifname: 'eth0', addr_info: [{ local: '192.0.2.2', prefixlen: 24 }] }],
      [{ dst: 'default', dev: 'eth0' }, { dst: '192.0.2.0/24', dev: 'eth0' }, { dst: '192.0.2.255', dev: 'eth0', table: 'local' }],
    );
    expect(conflicts).to.deep.equal([]);
  });
});
