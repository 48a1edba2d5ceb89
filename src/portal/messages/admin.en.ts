// English strings of the admin console; they join the portal's catalog (en.ts).
export const adminEn = {
  'admin.title': 'Admin',
} as const;

export type AdminMessages = Record<keyof typeof adminEn, string>;
