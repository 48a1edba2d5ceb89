import { describeAccessibility } from './accessibility.js';

// axe-core over every page (PAGES in accessibility.ts) in English, on a laptop and a phone.
describeAccessibility([
  { locale: 'en-GB', lang: 'en', width: 1366 },
  { locale: 'en-GB', lang: 'en', width: 360 },
]);
