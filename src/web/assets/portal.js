/* global document, FileReader */
// The upload form: a preview of the chosen picture cropped to a square (as it will be saved),
// drag and drop onto the drop zone, and an early word when the file is over the size limit.
// The server checks everything again; without this script the form still works.
(function () {
  'use strict';
  function setUp(form) {
    var input = form.querySelector('input[type=file]');
    var zone = form.querySelector('[data-drop-zone]');
    var preview = form.querySelector('[data-preview]');
    var image = preview && preview.querySelector('img');
    var alert = form.querySelector('[data-too-large]');
    var maxBytes = Number(form.getAttribute('data-max-bytes')) || Infinity;
    if (!input || !zone || !preview || !image || !alert) return;

    function show(file) {
      alert.hidden = true;
      if (!file) {
        preview.hidden = true;
        return;
      }
      if (file.size > maxBytes) {
        alert.textContent = alert.getAttribute('data-too-large');
        alert.hidden = false;
        preview.hidden = true;
        return;
      }
      var reader = new FileReader();
      reader.onload = function () {
        image.src = String(reader.result);
        preview.hidden = false;
      };
      reader.readAsDataURL(file);
    }

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
      input.files = files;
      show(files[0]);
    });
    form.addEventListener('submit', function (event) {
      var file = input.files && input.files[0];
      if (file && file.size > maxBytes) {
        event.preventDefault();
        show(file);
      }
    });
  }
  document.querySelectorAll('form.upload').forEach(setUp);
})();
