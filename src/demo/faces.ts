// Simple generated portraits for the demo organisation: no binary files in the repository, and
// every person looks different enough to tell apart at 48 px.

export interface FaceStyle {
  background: string;
  skin: string;
  hair: string;
  shirt: string;
  /** 0 = short hair, 1 = long hair, 2 = no hair */
  hairStyle: 0 | 1 | 2;
}

export function faceSvg(style: FaceStyle, side = 800): string {
  const hair =
    style.hairStyle === 0
      ? `<path d="M28 38c0-16 10-24 22-24s22 8 22 24c-6-8-14-10-22-10s-16 2-22 10z" fill="${style.hair}"/>`
      : style.hairStyle === 1
        ? `<path d="M24 70V40c0-18 12-27 26-27s26 9 26 27v30h-8V42c-6-6-12-9-18-9s-12 3-18 9v28z" fill="${style.hair}"/>`
        : '';
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${side}" height="${side}" viewBox="0 0 100 100">
  <rect width="100" height="100" fill="${style.background}"/>
  <path d="M10 100c0-22 18-34 40-34s40 12 40 34z" fill="${style.shirt}"/>
  <rect x="43" y="56" width="14" height="14" fill="${style.skin}"/>
  <ellipse cx="50" cy="42" rx="21" ry="24" fill="${style.skin}"/>
  ${hair}
  <circle cx="42" cy="42" r="2.6" fill="#2b2b2b"/>
  <circle cx="58" cy="42" r="2.6" fill="#2b2b2b"/>
  <path d="M42 54q8 6 16 0" stroke="#8a3b2e" stroke-width="2" fill="none" stroke-linecap="round"/>
</svg>`;
}
