import { expect } from 'chai';
import { hasZoneDesignator, normalizeTackerTimestamp } from './tacker-timestamp.js';

describe('Tacker timestamps', () => {
  it('keeps a v2 zoned timestamp as the same instant', () => {
    expect(normalizeTackerTimestamp('2026-05-01T10:00:00Z')).to.equal('2026-05-01T10:00:00.000Z');
  });

  it('reads v1 naive timestamps with microseconds, with T or a space, as UTC', () => {
    expect(normalizeTackerTimestamp('2026-05-01T10:00:00.123456')).to.equal('2026-05-01T10:00:00.123Z');
    expect(normalizeTackerTimestamp('2026-05-01 10:00:00.123456')).to.equal('2026-05-01T10:00:00.123Z');
  });

  it('reads a v1 timestamp whose microseconds were zero, which isoformat() leaves out', () => {
    expect(normalizeTackerTimestamp('2026-05-01T10:00:00')).to.equal('2026-05-01T10:00:00.000Z');
  });

  it('converts an explicit offset to UTC', () => {
    expect(normalizeTackerTimestamp('2026-05-01T12:00:00+02:00')).to.equal('2026-05-01T10:00:00.000Z');
    expect(normalizeTackerTimestamp('2026-05-01T05:30:00-0430')).to.equal('2026-05-01T10:00:00.000Z');
  });

  it('refuses times that are not real or not timestamps', () => {
    for (const value of ['2026-02-30T00:00:00Z', '2026-13-01T00:00:00Z', '2026-05-01T24:00:00Z', '2018-9-12T00:00:00', 'yesterday', '']) {
      expect(normalizeTackerTimestamp(value), value).to.equal(undefined);
    }
  });

  it('tells v2 zoned form from v1 naive form', () => {
    expect(hasZoneDesignator('2026-05-01T10:00:00Z')).to.equal(true);
    expect(hasZoneDesignator('2026-05-01T10:00:00.123456')).to.equal(false);
  });
});
