import { expect } from 'chai';
import { InvalidAttributeFilterError, matchesAttributeFilter, parseAttributeFilter } from './attribute-filter.js';

describe('SOL013 attribute filter of the Tacker simulator', function () {
  const occ = { operationState: 'COMPLETED', operation: 'HEAL', _links: { vnfInstance: { href: '/i/1' } }, tags: ['a', 'b'], note: "it's" };

  it('matches eq, in and nested paths, all expressions together', function () {
    expect(matchesAttributeFilter(occ, parseAttributeFilter('(eq,operationState,COMPLETED);(in,operation,HEAL,SCALE)'))).to.equal(true);
    expect(matchesAttributeFilter(occ, parseAttributeFilter('(neq,operation,HEAL)'))).to.equal(false);
    expect(matchesAttributeFilter(occ, parseAttributeFilter('(eq,_links/vnfInstance/href,/i/1)'))).to.equal(true);
    expect(matchesAttributeFilter(occ, parseAttributeFilter('(eq,tags,b)'))).to.equal(true);
    expect(matchesAttributeFilter(occ, parseAttributeFilter('(eq,missing,x)'))).to.equal(false);
  });

  it('reads quoted values with doubled quotes', function () {
    expect(matchesAttributeFilter(occ, parseAttributeFilter("(eq,note,'it''s')"))).to.equal(true);
  });

  it('refuses unknown operators and several values for a one-value operator', function () {
    expect(() => parseAttributeFilter('(like,operation,HEAL)')).to.throw(InvalidAttributeFilterError, 'Invalid op like');
    expect(() => parseAttributeFilter('(eq,operation,HEAL,SCALE)')).to.throw(InvalidAttributeFilterError, 'Only one value');
    expect(() => parseAttributeFilter('(eq,operation,HEAL)x')).to.throw(InvalidAttributeFilterError, 'semicolon expected');
  });
});
