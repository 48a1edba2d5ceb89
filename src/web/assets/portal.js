/* global document, FileReader, DataTransfer */
// The upload form: "Save" waits until a picture is chosen, a file that is not a picture (or is an
// SVG) is named at once instead of a broken preview, the chosen picture is previewed cropped to a
// square (as it will be saved), it can be dropped onto the drop zone, and a file over the size
// limit is named before it is sent. The server checks everything again; without this script the
// form still works.
(function () {
  'use strict';
  var USABLE = ['image/jpeg', 'image/png', 'image/gif', 'image/webp'];

  function isSvg(file) {
    return file.type === 'image/svg+xml' || /\.svgz?$/i.test(file.name || '');
  }

  function setUp(form) {
    var input = form.querySelector('input[type=file]');
    var zone = form.querySelector('[data-drop-zone]');
    var preview = form.querySelector('[data-preview]');
    var image = preview && preview.querySelector('img');
    var alert = form.querySelector('[data-too-large]');
    var save = form.querySelector('button[type=submit]');
    var maxBytes = Number(form.getAttribute('data-max-bytes')) || Infinity;
    if (!input || !zone || !preview || !image || !alert || !save) return;

    function refuse(message) {
      alert.textContent = message;
      alert.hidden = false;
      preview.hidden = true;
      save.disabled = true;
    }

    // Why the file cannot be used, or '' when it looks like a picture the server takes.
    function problem(file) {
      if (isSvg(file)) return alert.getAttribute('data-svg');
      if (file.type !== '' && USABLE.indexOf(file.type) < 0) {
        // A picture of a kind the server does not take (an iPhone's HEIC, AVIF, TIFF) is still a picture.
        return alert.getAttribute(file.type.indexOf('image/') === 0 ? 'data-unusable' : 'data-not-picture');
      }
      if (file.size > maxBytes) return alert.getAttribute('data-too-large');
      return '';
    }

    function show(file) {
      alert.hidden = true;
      if (!file) {
        preview.hidden = true;
        save.disabled = true;
        return;
      }
      var refusal = problem(file);
      if (refusal) {
        refuse(refusal);
        return;
      }
      var reader = new FileReader();
      reader.onload = function () {
        image.onerror = function () {
          // Said as the server would say it: a picture's file the browser cannot read is damaged.
          refuse(alert.getAttribute(file.type.indexOf('image/') === 0 ? 'data-corrupt' : 'data-not-picture'));
        };
        image.onload = function () {
          preview.hidden = false;
          save.disabled = false;
        };
        image.src = String(reader.result);
      };
      reader.readAsDataURL(file);
    }

    save.disabled = !(input.files && input.files[0]);
    input.addEventListener('change', function () {
      show(input.files && input.files[0]);
    });
    ['dragenter', 'dragover'].forEach(function (name) {
      zone.addEventListener(name, function (event) {
        event.preventDefault();
        zone.classList.add('dragging');
      });
    });
    ['dragleave', 'drop'].forEach(function (name) {
      zone.addEventListener(name, function () {
        zone.classList.remove('dragging');
      });
    });
    zone.addEventListener('drop', function (event) {
      event.preventDefault();
      var files = event.dataTransfer && event.dataTransfer.files;
      if (!files || files.length === 0) return;
      // The form takes one picture: of several dropped, the first, which the preview shows.
      if (files.length > 1 && typeof DataTransfer === 'function') {
        var first = new DataTransfer();
        first.items.add(files[0]);
        files = first.files;
      }
      input.files = files;
      show(files[0]);
    });
    form.addEventListener('submit', function (event) {
      var file = input.files && input.files[0];
      var refusal = file ? problem(file) : '';
      if (refusal) {
        event.preventDefault();
        refuse(refusal);
      }
    });
  }
  document.querySelectorAll('form.upload').forEach(setUp);
})();

// The suite bar's menus (the app launcher, the account menu). Without this script each is a
// <details> that opens and closes by itself; with it, each becomes a button with aria-expanded
// whose panel opens below it with focus on its first item, and Escape, a click elsewhere or
// leaving it by Tab closes it (Escape returns focus to the button). One menu is open at a time.
(function () {
  'use strict';
  var menus = [];

  function setOpen(menu, open, focus) {
    menu.button.setAttribute('aria-expanded', open ? 'true' : 'false');
    menu.panel.hidden = !open;
    if (open && focus) {
      var first = menu.panel.querySelector('a[href], button:not([disabled])');
      if (first) first.focus();
    }
  }

  function enhance(details) {
    var summary = details.querySelector('summary');
    var panel = details.querySelector('[data-menu-panel]');
    if (!summary || !panel || !panel.id) return;
    var root = document.createElement('div');
    root.className = details.className;
    var button = document.createElement('button');
    button.type = 'button';
    button.className = summary.className;
    ['aria-label', 'title'].forEach(function (name) {
      if (summary.hasAttribute(name)) button.setAttribute(name, summary.getAttribute(name));
    });
    while (summary.firstChild) button.appendChild(summary.firstChild);
    button.setAttribute('aria-controls', panel.id);
    root.appendChild(button);
    root.appendChild(panel);
    details.parentNode.replaceChild(root, details);
    var menu = { root: root, button: button, panel: panel };
    setOpen(menu, false);
    menus.push(menu);

    button.addEventListener('click', function () {
      var open = button.getAttribute('aria-expanded') === 'true';
      menus.forEach(function (other) {
        setOpen(other, false);
      });
      setOpen(menu, !open, true);
    });
    root.addEventListener('focusout', function (event) {
      if (event.relatedTarget && !root.contains(event.relatedTarget)) setOpen(menu, false);
    });
  }

  document.querySelectorAll('details[data-menu]').forEach(enhance);

  document.addEventListener('keydown', function (event) {
    if (event.key !== 'Escape') return;
    menus.forEach(function (menu) {
      if (menu.button.getAttribute('aria-expanded') !== 'true') return;
      setOpen(menu, false);
      menu.button.focus();
    });
  });
  document.addEventListener('click', function (event) {
    menus.forEach(function (menu) {
      if (!menu.root.contains(event.target)) setOpen(menu, false);
    });
  });
})();
