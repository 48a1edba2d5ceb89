// The route schemas are compiled with type coercion, which forms and query strings need ("30" is
// 30). A JSON body says its types itself, and coercion would take `null` for 0 or "true" for true
// in a write; `jsonTypeProblem` tells where a JSON value is not of the schema's type, before it.

interface SchemaNode {
  type?: string;
  anyOf?: SchemaNode[];
  properties?: Record<string, SchemaNode>;
  items?: SchemaNode;
}

const TYPE_OF: Record<string, (value: unknown) => boolean> = {
  integer: (v) => typeof v === 'number' && Number.isInteger(v),
  number: (v) => typeof v === 'number',
  boolean: (v) => typeof v === 'boolean',
  string: (v) => typeof v === 'string',
  null: (v) => v === null,
  array: (v) => Array.isArray(v),
  object: (v) => typeof v === 'object' && v !== null && !Array.isArray(v),
};

/** The first place (`body/recheckSeconds`) where `value` is not of the schema's type, with that type. */
export function jsonTypeProblem(schema: SchemaNode, value: unknown, at = 'body'): string | undefined {
  if (schema.anyOf) {
    if (schema.anyOf.some((option) => jsonTypeProblem(option, value, at) === undefined)) return undefined;
    const types = schema.anyOf.map((option) => option.type).filter((type) => type !== undefined);
    return `${at} must be ${types.join(' or ')}`;
  }
  if (schema.type === undefined) return undefined;
  const isOfType = TYPE_OF[schema.type];
  if (isOfType && !isOfType(value)) return `${at} must be ${schema.type}`;
  if (schema.type === 'array' && schema.items) {
    const items = value as unknown[];
    for (let i = 0; i < items.length; i++) {
      const problem = jsonTypeProblem(schema.items, items[i], `${at}/${i}`);
      if (problem) return problem;
    }
  }
  if (schema.type === 'object' && schema.properties) {
    for (const [key, property] of Object.entries(value as Record<string, unknown>)) {
      const known = Object.hasOwn(schema.properties, key) ? schema.properties[key] : undefined;
      const problem = known && jsonTypeProblem(known, property, `${at}/${key}`);
      if (problem) return problem;
    }
  }
  return undefined;
}
