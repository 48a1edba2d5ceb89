import type { AppError } from '../../errors.js';
import { messagePage } from '../../web/message-page.js';
import { adminPage, type ConsoleContext } from './console.js';

/**
 * The console's errors, with its navigation (a refused form, an unknown user). Whoever is refused
 * the console itself (forbidden) gets the shell's plain page: the console is not theirs to browse.
 */
export function consoleErrorPage(context: ConsoleContext, title: string, message: string, error: AppError): string {
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
