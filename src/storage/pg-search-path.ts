// PostgreSQL's search_path as PostgreSQL reads it, for the few places photosync must know which
// schema a URL works in before any connection says so (a restore into a schema not made yet, and
// the name each connection gives itself).

/** PostgreSQL keeps this many bytes of a name. */
const NAME_BYTES = 63;

/**
 * The schema names a search_path value lists, in order: split at commas outside double quotes, a
 * quoted name taken as written (a doubled quote is one), a name without quotes folded to lower
 * case in A–Z only, each cut to 63 bytes. `$user` stays as written: it stands for the role's name.
 */
export function searchPathNames(value: string): string[] {
  const names: string[] = [];
  let name = '';
  let quoted = false;
  let inQuotes = false;
  const end = () => {
    const trimmed = quoted ? name : name.trim();
    if (trimmed !== '') names.push(truncate(quoted ? trimmed : trimmed.replace(/[A-Z]/g, (c) => c.toLowerCase())));
    name = '';
    quoted = false;
  };
  for (let i = 0; i < value.length; i++) {
    const c = value[i]!;
    if (inQuotes) {
      if (c === '"' && value[i + 1] === '"') {
        name += '"';
        i++;
      } else if (c === '"') inQuotes = false;
      else name += c;
    } else if (c === '"') {
      inQuotes = true;
      quoted = true;
      name = '';
    } else if (c === ',') end();
    else if (!quoted) name += c;
  }
  end();
  return names;
}

/** A name as search_path must be given it: bare when PostgreSQL would read it back unchanged, else in double quotes. */
export function asSearchPathName(name: string): string {
  return /^[a-z_][a-z0-9_$]*$/.test(name) ? name : `"${name.replaceAll('"', '""')}"`;
}

function truncate(name: string): string {
  const bytes = Buffer.from(name);
  if (bytes.length <= NAME_BYTES) return name;
  let end = NAME_BYTES;
  // Not inside a character: UTF-8 continuation bytes are 10xxxxxx.
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end).toString();
}

/**
 * What a URL's `options` parameter should be for its connections to work in the schema `name`
 * first: its own options, in their order, with the search_path setting they had (`-c search_path=…`,
 * `-csearch_path=…`, `--search-path=…`) replaced by one naming `name`. Other settings are kept.
 */
export function optionsWithSearchPath(url: string, name: string): string {
  let options = '';
  try {
    options = new URL(url).searchParams.get('options') ?? '';
  } catch {
    // Not a URL: there are no options to keep.
  }
  // libpq splits options at whitespace not escaped with a backslash.
  const words = options.match(/(?:\\.|[^\s\\])+/g) ?? [];
  const kept: string[] = [];
  for (let i = 0; i < words.length; i++) {
    const word = words[i]!;
    if (word === '-c' && setsSearchPath(words[i + 1])) i++;
    else if (!(/^(-c|--)/.test(word) && setsSearchPath(word.replace(/^(-c|--)/, '')))) kept.push(word);
  }
  kept.push('-c', `search_path=${asSearchPathName(name).replace(/[\s\\]/g, '\\$&')}`);
  return kept.join(' ');
}

/** Whether an option's `name=value` sets search_path (names are read without regard to case, `-` as `_`). */
const setsSearchPath = (setting: string | undefined) =>
  setting !== undefined && /^search[_-]path=/i.test(setting.replace(/\\(.)/g, '$1'));
