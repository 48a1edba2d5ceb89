import { adminEn } from './admin.en.js';

// English strings of the portal. Every page string lives here and in et.ts, never in markup;
// the admin console's strings live in admin.en.ts / admin.et.ts and join the same catalog.
export const en = {
  ...adminEn,
  'app.name': 'photosync',
  'lang.name': 'English',
  'signin.title': 'Sign in',
  'signin.intro': 'Sign in with your work account.',
  'signin.upn': 'Work account',
  'signin.upnHint': 'For example jane@contoso.com',
  'signin.password': 'Password',
  'signin.submit': 'Sign in',
  'signin.failed': 'That account and password do not match. Check both and try again.',
  'signin.incomplete': 'Enter your work account and your password.',
  'signin.rateLimited': 'Too many failed sign-in attempts. Wait {minutes} minutes and try again.',
  'form.expired': 'This form has expired. Please try again.',
  'home.title': 'Home',
  'home.greeting': 'Hello, {name}',
  'home.photoAlt': 'Profile picture of {name}',
  'home.photoHelp':
    'This is your picture in the sites. Opening this page checks your photo in the mail service and brings a new one across at once.',
  'home.signedInAs': 'Signed in as {upn}',
  'signout.submit': 'Sign out',
  'error.title': 'Something went wrong',
  'error.body': 'Something went wrong on our side. Please try again.',
} as const;

export type MessageKey = keyof typeof en;
export type Messages = Record<MessageKey, string>;
