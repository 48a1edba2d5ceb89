import type { AppError } from '../../errors.js';
import type { PageContext } from '../../web/layout.js';
import { messagePage } from '../../web/message-page.js';
import { adminPage } from './console.js';

/**
 * The console's errors, with its navigation (a refused form, an unknown user). Whoever is refused
 * the console itself (forbidden) gets the shell's plain page: the console is not theirs to browse.
 */
export function consoleErrorPage(context: PageContext, title: string, message: string, error: AppError): string {
  if (error.id === 'forbidden') return messagePage(context, title, message);
  return adminPage(
    context,
    'overview',
    title,
    <>
      <h1>{title}</h1>
      <p class="alert" role="alert">
        {message}
      </p>
    </>,
  );
}
