import { describeAccessibility } from './accessibility.js';

// axe-core over every page (PAGES in accessibility.ts) in Estonian, on a laptop and a phone.
describeAccessibility([
  { locale: 'et-EE', lang: 'et', width: 1366 },
  { locale: 'et-EE', lang: 'et', width: 360 },
]);
