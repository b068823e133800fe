import { readFile } from 'node:fs/promises';
import { parseDocument } from 'yaml';
import { AppError } from '../../errors.js';

export interface DescriptorBody {
  contentType: string;
  text: string;
}

/**
 * The file as written is what the service gets: validating the descriptor is the service's job, so
 * its problem list is the one the operator sees. Only a file that is not YAML at all is refused
 * here, with the parser's line and column, because the service could only answer "not valid YAML".
 */
export async function readDescriptorFile(file: string): Promise<DescriptorBody> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (cause) {
    throw new AppError('INVALID_REQUEST', `Descriptor file ${file} cannot be read.`, { cause });
  }
  const document = parseDocument(text, { prettyErrors: true });
  if (document.errors.length > 0) {
    const problems = document.errors.map((error) => ({ path: file, message: (error.message.split('\n')[0] ?? error.message).replace(/:$/, '') }));
    throw new AppError('INVALID_SPEC', `Descriptor file ${file} is not valid YAML.`, { problems });
  }
  return { contentType: 'application/yaml', text };
}
