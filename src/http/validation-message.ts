// What a route's schema refused, as one sentence a person can act on. Ajv reports a field that
// takes one of a few values (a union of literals) as one "must be equal to constant" per value and
// a "must match a schema in anyOf"; a field the body must not have without its name. This says
// each field once: the values it takes, or the field that is not taken.

/** The part of an Ajv error this reads (Fastify hands them over as `error.validation`). */
export interface SchemaError {
  keyword?: unknown;
  instancePath?: unknown;
  params?: unknown;
  message?: unknown;
}

interface Alternatives {
  values: unknown[];
  types: string[];
  union: boolean;
}

const text = (value: unknown) => (typeof value === 'string' ? value : '');
const params = (error: SchemaError) => (error.params ?? {}) as Record<string, unknown>;

/** `context` is where the value came from (`querystring`, `body`, `params`, `headers`). */
export function describeValidation(errors: readonly SchemaError[], context: string): string | undefined {
  if (errors.length === 0) return undefined;
  const where = (error: SchemaError) => `${context}${text(error.instancePath)}`;

  // A field with alternatives: every value and type any of them would have taken.
  const alternatives = new Map<string, Alternatives>();
  const of = (path: string) => {
    let found = alternatives.get(path);
    if (!found) alternatives.set(path, (found = { values: [], types: [], union: false }));
    return found;
  };
  for (const error of errors) {
    const path = where(error);
    const p = params(error);
    if (error.keyword === 'anyOf' || error.keyword === 'oneOf') of(path).union = true;
    else if (error.keyword === 'const') of(path).values.push(p.allowedValue);
    else if (error.keyword === 'enum' && Array.isArray(p.allowedValues)) of(path).values.push(...p.allowedValues);
    else if (error.keyword === 'type') of(path).types.push(...[p.type].flat().map(text));
  }

  const sentences: string[] = [];
  for (const error of errors) {
    const path = where(error);
    const choice = alternatives.get(path);
    let sentence: string;
    if (choice?.union && choice.values.length > 0) {
      const values = [...new Set(choice.values.map((v) => JSON.stringify(v)))];
      const orNull = choice.types.includes('null') ? ' or null' : '';
      sentence = `${path} must be one of ${values.join(', ')}${orNull}`;
    } else if (choice?.union && choice.types.length > 0) {
      sentence = `${path} must be ${[...new Set(choice.types)].join(' or ')}`;
    } else if (error.keyword === 'enum' && choice && choice.values.length > 0) {
      sentence = `${path} must be one of ${[...new Set(choice.values.map((v) => JSON.stringify(v)))].join(', ')}`;
    } else if (error.keyword === 'additionalProperties') {
      sentence = `${path} must not have the field "${text(params(error).additionalProperty)}"`;
    } else {
      sentence = `${path} ${text(error.message)}`.trim();
    }
    if (!sentences.includes(sentence)) sentences.push(sentence);
  }
  return sentences.join(', ');
}
