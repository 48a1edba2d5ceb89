import type { JSX } from 'preact';

// The apps' icons, drawn inline (no requests, no fonts) in the colour of the text around them;
// the home tiles and the app launcher both use them. Decorative: the app's name is always beside.

export type AppName = 'outlook' | 'onedrive' | 'sharepoint' | 'home';

const SHAPES: Record<AppName, JSX.Element> = {
  // An envelope.
  outlook: (
    <>
      <rect x="3" y="5.5" width="18" height="13" rx="2" fill="none" stroke="currentColor" stroke-width="2" />
      <path d="M4 7.5l8 6 8-6" fill="none" stroke="currentColor" stroke-width="2" stroke-linejoin="round" />
    </>
  ),
  // A cloud.
  onedrive: <path d="M6.5 19h11a4.5 4.5 0 0 0 .6-8.96A6 6 0 0 0 6.3 9.05 5 5 0 0 0 6.5 19z" fill="currentColor" />,
  // Three overlapping circles, as SharePoint's mark.
  sharepoint: (
    <>
      <circle cx="10" cy="9.5" r="6.5" fill="currentColor" />
      <circle cx="16" cy="14.5" r="5" fill="currentColor" opacity="0.8" />
      <circle cx="9.5" cy="18" r="4" fill="currentColor" opacity="0.6" />
    </>
  ),
  // A house.
  home: <path d="M12 3.2 3 10.6V21h6.2v-6h5.6v6H21V10.6z" fill="currentColor" />,
};

export function AppIcon(props: { app: AppName }) {
  return (
    <svg class="app-icon" viewBox="0 0 24 24" width="24" height="24" aria-hidden="true" focusable="false">
      {SHAPES[props.app]}
    </svg>
  );
}

/** The suite bar's waffle: nine dots in a square. */
export function WaffleIcon() {
  const dots = [4, 12, 20].flatMap((y) => [4, 12, 20].map((x) => <rect x={x - 2} y={y - 2} width="4" height="4" />));
  return (
    <svg
      class="waffle-icon"
      viewBox="0 0 24 24"
      width="20"
      height="20"
      fill="currentColor"
      aria-hidden="true"
      focusable="false"
    >
      {dots}
    </svg>
  );
}
