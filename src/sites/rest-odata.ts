// SharePoint's three JSON flavours of one value: odata=verbose wraps it in {"d":…} with
// __metadata and {"results":[…]} collections; minimalmetadata adds odata.* annotations;
// nometadata is the plain object (a bare value becomes {"value":…}).

export type ODataFormat = 'verbose' | 'minimalmetadata' | 'nometadata';

/** SharePoint answers verbose when the client names it or names no JSON flavour at all. */
export function odataFormatOf(accept: string | undefined): ODataFormat {
  const text = (accept ?? '').toLowerCase();
  if (text.includes('odata=nometadata')) return 'nometadata';
  if (text.includes('odata=minimalmetadata')) return 'minimalmetadata';
  if (text.includes('odata=verbose')) return 'verbose';
  return text.includes('application/json') ? 'minimalmetadata' : 'verbose';
}

export interface ODataValue {
  publicUrl: string;
  /** e.g. SP.UserProfiles.PeopleManager/GetMyProperties */
  method: string;
  /** e.g. SP.UserProfiles.PersonProperties, Edm.String */
  type: string;
  value: unknown;
  /** The property name verbose uses for a function's result, when it is not the method's last segment. */
  verboseName?: string;
}

export function formatOData(
  format: ODataFormat,
  { publicUrl, method, type, value, verboseName }: ODataValue,
): Record<string, unknown> {
  const uri = `${publicUrl}/_api/${method}`;
  const isObject = value !== null && typeof value === 'object' && !Array.isArray(value);
  const name = verboseName ?? method.split('/').pop() ?? method;
  if (format === 'verbose') {
    if (!isObject) return { d: { [name]: value } };
    const body = verbose(value as Record<string, unknown>);
    return {
      d: verboseName ? { [name]: { __metadata: { type }, ...body } } : { __metadata: { id: uri, uri, type }, ...body },
    };
  }
  if (!isObject) {
    if (value === null) return { 'odata.null': true };
    return format === 'minimalmetadata'
      ? { 'odata.metadata': `${publicUrl}/_api/$metadata#${type}`, value }
      : { value };
  }
  return format === 'minimalmetadata'
    ? {
        'odata.metadata': `${publicUrl}/_api/$metadata#${type}/@Element`,
        'odata.type': type,
        'odata.id': uri,
        'odata.editLink': method,
        ...(value as object),
      }
    : (value as Record<string, unknown>);
}

/** Collections become {"__metadata":{"type":"Collection(…)"},"results":[…]}, key/value items SP.KeyValue. */
function verbose(object: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(object)) {
    if (!Array.isArray(value)) {
      out[key] = value;
      continue;
    }
    const keyValues = value.length > 0 && value.every((v) => v !== null && typeof v === 'object' && 'Key' in v);
    out[key] = keyValues
      ? { results: value.map((v: object) => ({ __metadata: { type: 'SP.KeyValue' }, ...v })) }
      : { __metadata: { type: 'Collection(Edm.String)' }, results: value };
  }
  return out;
}

export interface ODataCollection {
  publicUrl: string;
  /** The items' type, e.g. SP.User */
  type: string;
  values: unknown[];
}

/** A collection: verbose {"d":{"results":[…]}}, minimalmetadata and nometadata {"value":[…]}. */
export function formatODataCollection(
  format: ODataFormat,
  { publicUrl, type, values }: ODataCollection,
): Record<string, unknown> {
  if (format === 'verbose') {
    return {
      d: {
        results: values.map((value) => ({ __metadata: { type }, ...verbose(value as Record<string, unknown>) })),
      },
    };
  }
  return format === 'minimalmetadata'
    ? { 'odata.metadata': `${publicUrl}/_api/$metadata#${type}s`, value: values }
    : { value: values };
}
