/** The signed-in user as the suite bar shows them. */
export interface SuiteUser {
  displayName: string;
  upn: string;
  /** Versioned URL of the user's mail photo; initials are shown when there is none. */
  photoUrl?: string | undefined;
  /** Without a mailbox the picture is uploaded in the sites, so "change photo" leads there. */
  hasMailbox?: boolean | undefined;
}

/** "Mari Maasikas" → "MM": what the suite bar shows for someone without a photo. */
export function initials(displayName: string): string {
  const words = displayName.split(/\s+/).filter((w) => /\p{L}/u.test(w));
  const first = words[0]?.match(/\p{L}/u)?.[0] ?? '';
  const last = words.length > 1 ? (words[words.length - 1]?.match(/\p{L}/u)?.[0] ?? '') : '';
  return (first + last).toUpperCase() || '?';
}

export function Avatar(props: { user: SuiteUser; alt: string; size: number; class?: string }) {
  const { user, alt, size } = props;
  const cls = `avatar ${props.class ?? ''}`.trim();
  return user.photoUrl ? (
    <img class={cls} src={user.photoUrl} alt={alt} width={size} height={size} />
  ) : (
    <span class={`${cls} initials`} role="img" aria-label={alt} data-initials="">
      {initials(user.displayName)}
    </span>
  );
}
