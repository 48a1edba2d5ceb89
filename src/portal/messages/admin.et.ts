import type { AdminMessages } from './admin.en.js';

// Estonian strings of the admin console; the type makes a missing translation a compile error.
export const adminEt: AdminMessages = {
  'admin.title': 'Haldus',
};
