/* global document, navigator, Element, HTMLInputElement */
// The console works without this script; it adds the copy buttons and "select all".
document.addEventListener('click', (event) => {
  const button = event.target instanceof Element ? event.target.closest('button[data-copy]') : null;
  if (!button) return;
  const value = button.getAttribute('data-copy') ?? '';
  void navigator.clipboard?.writeText(value).then(() => {
    button.setAttribute('title', button.getAttribute('data-copied') ?? '');
  });
});

document.addEventListener('change', (event) => {
  const box = event.target;
  if (!(box instanceof HTMLInputElement) || !box.matches('input[data-select-all]')) return;
  const form = box.form;
  if (!form) return;
  for (const other of form.querySelectorAll('input[type=checkbox][name=upn]')) other.checked = box.checked;
});
