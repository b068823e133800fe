import { writeFileSync } from 'node:fs';
import { publishedJsonSchemas } from '../src/json-schemas.js';

for (const [name, schema] of Object.entries(publishedJsonSchemas())) {
  writeFileSync(new URL(`../docs/${name}`, import.meta.url), `${JSON.stringify(schema, null, 2)}\n`);
}
