import { expect } from 'chai';
import { LineSplitter } from './line-splitter.js';

describe('line splitter', function () {
  it('joins partial lines across chunks and keeps the unterminated last line for the end', function () {
    const splitter = new LineSplitter();
    expect(splitter.push(Buffer.from('first li'))).to.deep.equal([]);
    expect(splitter.push(Buffer.from('ne\nsecond\nthi'))).to.deep.equal(['first line', 'second']);
    expect(splitter.end()).to.deep.equal(['thi']);
    expect(splitter.end()).to.deep.equal([]);
  });

  it('treats CRLF as one line end, also when CR and LF arrive in different chunks', function () {
    const splitter = new LineSplitter();
    expect(splitter.push(Buffer.from('a\r\nb\r'))).to.deep.equal(['a']);
    expect(splitter.push(Buffer.from('\n\r\n'))).to.deep.equal(['b', '']);
  });

  it('never splits a multi-byte character that straddles two chunks', function () {
    const bytes = Buffer.from('grüße\n');
    const splitter = new LineSplitter();
    expect([...splitter.push(bytes.subarray(0, 3)), ...splitter.push(bytes.subarray(3))]).to.deep.equal(['grüße']);
  });

  it('cuts a line that never ends at the maximum length instead of buffering it all', function () {
    const splitter = new LineSplitter(4);
    expect(splitter.push(Buffer.from('abcdefghij'))).to.deep.equal(['abcd', 'efgh']);
    expect(splitter.end()).to.deep.equal(['ij']);
  });
});
