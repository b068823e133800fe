import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { publishedJsonSchemas } from './json-schemas.js';
import { validSpecInput } from '../test/support/spec-fixtures.js';

describe('published JSON Schemas', function () {
  for (const [name, schema] of Object.entries(publishedJsonSchemas())) {
    it(`docs/${name} is current (regenerate with npm run docs:schema)`, function () {
      const published: unknown = JSON.parse(readFileSync(new URL(`../docs/${name}`, import.meta.url), 'utf8'));
      expect(published).to.deep.equal(schema);
    });
  }

  it('accepts a valid spec and rejects an unknown field, like the zod schema', function () {
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    const validate = ajv.compile(publishedJsonSchemas()['injection-spec.schema.json'] as object);
    expect(validate(validSpecInput()), JSON.stringify(validate.errors)).to.equal(true);
    expect(validate({ ...validSpecInput(), surprise: 1 })).to.equal(false);
  });
});
