import { adminEt } from './admin.et.js';
import type { Messages } from './en.js';

// Estonian strings of the portal; the type makes a missing translation a compile error.
export const et: Messages = {
  ...adminEt,
  'app.name': 'photosync',
  'lang.name': 'Eesti',
  'signin.title': 'Logi sisse',
  'signin.intro': 'Logi sisse oma töökontoga.',
  'signin.upn': 'Töökonto',
  'signin.upnHint': 'Näiteks jane@contoso.com',
  'signin.password': 'Parool',
  'signin.submit': 'Logi sisse',
  'signin.failed': 'See konto ja parool ei sobi kokku. Kontrolli mõlemat ja proovi uuesti.',
  'signin.incomplete': 'Sisesta oma töökonto ja parool.',
  'signin.rateLimited': 'Liiga palju ebaõnnestunud sisselogimiskatseid. Oota {minutes} minutit ja proovi uuesti.',
  'form.expired': 'See vorm on aegunud. Palun proovi uuesti.',
  'home.title': 'Avaleht',
  'home.greeting': 'Tere, {name}',
  'home.photoAlt': 'Kasutaja {name} profiilipilt',
  'home.photoHelp':
    'See on sinu pilt saitidel. Selle lehe avamisel kontrollitakse sinu fotot meiliteenuses ja uus foto tuuakse kohe üle.',
  'home.signedInAs': 'Sisse logitud kui {upn}',
  'signout.submit': 'Logi välja',
  'error.title': 'Midagi läks valesti',
  'error.body': 'Meie poolel läks midagi valesti. Palun proovi uuesti.',
};
