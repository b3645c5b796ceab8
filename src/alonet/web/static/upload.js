/* AloNet upload page: four view slots (file picker, camera, drag and drop),
   previews, and a visible progress state while the photographs upload and
   the model runs. Without JavaScript the form still posts normally. */
(function () {
  "use strict";
  var form = document.getElementById("score-form");
  if (!form) { return; }
  var errorBox = document.getElementById("upload-error");
  var button = document.getElementById("score-button");
  var bar = document.getElementById("progress-bar");
  var text = document.getElementById("progress-text");

  function showError(message) {
    errorBox.textContent = message;
    errorBox.hidden = !message;
  }

  function setFile(slot, file) {
    var input = slot.querySelector(".slot-file");
    var preview = slot.querySelector(".slot-preview");
    var hint = slot.querySelector(".slot-hint");
    var clear = slot.querySelector(".slot-clear");
    var name = slot.querySelector(".slot-file-name");
    if (file && input.files[0] !== file) {
      var transfer = new DataTransfer();
      transfer.items.add(file);
      input.files = transfer.files;
    }
    if (!file) { input.value = ""; }
    if (preview.src && preview.src.indexOf("blob:") === 0) { URL.revokeObjectURL(preview.src); }
    if (file) {
      preview.src = URL.createObjectURL(file);
      preview.hidden = false;
      hint.hidden = true;
      var size = file.size < 1048576 ? Math.max(1, Math.round(file.size / 1024)) + " KB"
        : (file.size / 1048576).toFixed(1) + " MB";
      name.textContent = file.name + " (" + size + ")";
    } else {
      preview.removeAttribute("src");
      preview.hidden = true;
      hint.hidden = false;
      name.textContent = "";
    }
    clear.hidden = !file;
    slot.classList.toggle("filled", !!file);
    showError("");
  }

  document.querySelectorAll(".slot").forEach(function (slot) {
    var input = slot.querySelector(".slot-file");
    var camera = slot.querySelector(".slot-camera");
    var drop = slot.querySelector(".slot-drop");
    input.addEventListener("change", function () { setFile(slot, input.files[0] || null); });
    camera.addEventListener("change", function () {
      if (camera.files[0]) { setFile(slot, camera.files[0]); }
      camera.value = "";
    });
    slot.querySelector(".slot-clear").addEventListener("click", function () { setFile(slot, null); });
    ["dragenter", "dragover"].forEach(function (type) {
      drop.addEventListener(type, function (event) {
        event.preventDefault();
        slot.classList.add("dragging");
      });
    });
    ["dragleave", "drop"].forEach(function (type) {
      drop.addEventListener(type, function () { slot.classList.remove("dragging"); });
    });
    drop.addEventListener("drop", function (event) {
      event.preventDefault();
      var files = event.dataTransfer && event.dataTransfer.files;
      if (files && files.length) { setFile(slot, files[0]); }
    });
  });

  function busy(on, message) {
    button.disabled = on;
    bar.hidden = !on;  // the status text beside it stays in the page: it is the live region
    form.classList.toggle("busy", on);
    if (message !== undefined) { text.textContent = message; }
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var chosen = Array.prototype.filter.call(form.querySelectorAll(".slot-file"), function (i) {
      return i.files.length > 0;
    });
    if (!chosen.length) {
      showError("Add at least one photograph (top, back, left or right).");
      return;
    }
    showError("");
    var data = new FormData(form);
    var xhr = new XMLHttpRequest();
    xhr.open("POST", form.action);
    xhr.setRequestHeader("Accept", "application/json");
    xhr.responseType = "json";
    busy(true, "Uploading " + chosen.length + " photograph" + (chosen.length > 1 ? "s" : "") + "…");
    bar.value = 0;
    xhr.upload.addEventListener("progress", function (e) {
      if (e.lengthComputable) { bar.value = Math.round(100 * e.loaded / e.total); }
    });
    xhr.upload.addEventListener("load", function () {
      bar.removeAttribute("value");  // indeterminate while the model runs
      text.textContent = "Scoring " + chosen.length + " view" + (chosen.length > 1 ? "s" : "") +
        " – the model runs on this computer…";
    });
    xhr.addEventListener("load", function () {
      var body = xhr.response || {};
      if (xhr.status === 200 && body.url) {
        text.textContent = "Done – opening the result…";
        window.location.assign(body.url);
        return;
      }
      busy(false, "");
      showError(body.error || ("The server answered " + xhr.status + " " + xhr.statusText + "."));
    });
    xhr.addEventListener("error", function () {
      busy(false, "");
      showError("The upload failed: the server could not be reached or closed the connection.");
    });
    xhr.send(data);
  });
})();
