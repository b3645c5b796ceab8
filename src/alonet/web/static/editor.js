/* AloNet result page: scalp and hair-loss overlays on each photograph, and
   (when editable) a brush and eraser to correct either layer.

   Each view keeps its two masks as Uint8Arrays at the canvas size together
   with two running counts (scalp pixels, hair-loss pixels inside the scalp),
   updated pixel by pixel as the brush paints, so the view's % and the SALT
   are recomputed live with no full-image pass. When a stroke ends the
   corrected masks are sent to the server (PNG), which recomputes every number
   with alonet.scoring.salt; its answer replaces the live values. Reports and
   saved visits use the server's copy, so they always match the page. */
(function () {
  "use strict";
  var root = document.getElementById("editor");
  if (!root) { return; }
  var editable = root.dataset.readonly !== "1";
  var ALL_VIEWS = ["top", "back", "left", "right"];
  var weights = root.dataset.weights ? JSON.parse(root.dataset.weights) : {};
  var grades = root.dataset.grades ? JSON.parse(root.dataset.grades) : [];
  var bands = root.dataset.bands ? JSON.parse(root.dataset.bands) : [];
  // flag codes that ask for a look at the overlay, not a retake (alonet.infer.quality.REVIEW_CODES)
  var reviewCodes = root.dataset.reviewCodes ? JSON.parse(root.dataset.reviewCodes) : ["check"];
  var csrfMeta = document.querySelector('meta[name="csrf-token"]');
  var csrf = csrfMeta ? csrfMeta.content : "";
  var UNDO_LIMIT = 40;
  var SYNC_DELAY_MS = 250;

  var tool = { layer: "hairloss", mode: "brush", size: 30 };
  var display = { scalp: true, hairloss: true, opacity: 0.55 };
  var editors = {};
  var undoStack = [];
  var dirty = {};          // view -> true while its corrections are not on the server
  var generation = 0;      // bumped by every change; stale server answers are ignored
  var revision = root.dataset.revision || "";  // the server's correction count this page builds on
  var syncTimer = null;
  var syncing = null;      // promise of the request in flight
  var serverPercent = {};  // view -> % from the server's latest summary
  var withheld = [];  // views whose retake withholds the SALT (from the server's latest summary)
  var staleRefusal = false;  // the server's last answer was 409: this page is out of date
  var pointerOverView = false;  // [ and ] resize the brush only while the pointer is over a photograph

  // The report's colours (alonet.report.overlay.OverlayStyle): green scalp outline, magenta hair loss.
  var COLORS = {
    loss: [255, 40, 200, 215],     // hair loss inside the scalp
    lossOut: [255, 40, 200, 80],   // hair loss drawn outside the scalp (does not count; dropped when applied)
    scalp: [40, 230, 90, 60],
    scalpEdge: [40, 230, 90, 255]
  };

  function $(id) { return document.getElementById(id); }

  function loadImage(url) {
    return new Promise(function (resolve, reject) {
      var img = new Image();
      img.onload = function () { resolve(img); };
      img.onerror = function () { reject(new Error("could not load " + url)); };
      img.src = url;
    });
  }

  function maskFromImage(img, width, height) {
    var canvas = document.createElement("canvas");
    canvas.width = width;
    canvas.height = height;
    var ctx = canvas.getContext("2d", { willReadFrequently: true });
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(img, 0, 0, width, height);
    var pixels = ctx.getImageData(0, 0, width, height).data;
    var mask = new Uint8Array(width * height);
    for (var i = 0; i < mask.length; i++) { mask[i] = pixels[4 * i] > 127 ? 1 : 0; }
    return mask;
  }

  // ------------------------------------------------------------------ one view

  function ViewEditor(figure) {
    this.name = figure.dataset.view;
    this.figure = figure;
    this.photo = figure.querySelector("img.photo");
    this.canvas = figure.querySelector("canvas.overlay");
    this.cursor = figure.querySelector("canvas.cursor");
    this.ready = false;
    this.drawing = false;
    this.last = null;
  }

  ViewEditor.prototype.load = function () {
    var self = this;
    var fig = this.figure;
    return Promise.all([loadImage(fig.dataset.photo), loadImage(fig.dataset.scalp), loadImage(fig.dataset.hairloss)])
      .then(function (imgs) {
        var w = imgs[0].naturalWidth, h = imgs[0].naturalHeight;
        self.width = w;
        self.height = h;
        self.scalp = maskFromImage(imgs[1], w, h);
        self.hairloss = maskFromImage(imgs[2], w, h);
        self.canvas.width = self.cursor.width = w;
        self.canvas.height = self.cursor.height = h;
        self.ctx = self.canvas.getContext("2d");
        self.image = self.ctx.createImageData(w, h);
        self.recount();
        self.render(0, 0, w, h);
        self.ready = true;
        if (editable) { self.bind(); }
        fig.classList.add("ready");
      });
  };

  // Take the server's masks again (after corrected masks were uploaded as files). The address
  // changes with the revision so that no copy the browser kept of the older masks is used.
  ViewEditor.prototype.reloadMasks = function (tag) {
    var self = this, fig = this.figure;
    return Promise.all([loadImage(fig.dataset.scalp + "?r=" + tag), loadImage(fig.dataset.hairloss + "?r=" + tag)])
      .then(function (imgs) {
        self.scalp = maskFromImage(imgs[0], self.width, self.height);
        self.hairloss = maskFromImage(imgs[1], self.width, self.height);
        self.recount();
        self.render(0, 0, self.width, self.height);
      });
  };

  ViewEditor.prototype.recount = function () {
    var s = 0, l = 0;
    for (var i = 0; i < this.scalp.length; i++) {
      if (this.scalp[i]) { s++; if (this.hairloss[i]) { l++; } }
    }
    this.scalpCount = s;
    this.lossCount = l;
  };

  // Hair loss lies inside the scalp (the server keeps only that part). Hair loss painted past the
  // scalp's edge shows faintly until the stroke is applied, then goes: kept here, a later scalp
  // stroke over it counted it on this page but not after a reload (36.7 % against 34.5 %).
  // The hair loss as it was goes with the view's last undo step, so that undoing the stroke that
  // caused the drop (a scalp eraser stroke) brings the hair loss back with the scalp.
  ViewEditor.prototype.dropLossOutsideScalp = function () {
    var loss = this.hairloss, scalp = this.scalp, before = null;
    for (var i = 0; i < loss.length; i++) {
      if (loss[i] && !scalp[i]) {
        if (!before) { before = loss.slice(); }
        loss[i] = 0;
      }
    }
    if (!before) { return; }
    for (var k = undoStack.length - 1; k >= 0; k--) {
      if (undoStack[k].view === this.name) {
        if (!undoStack[k].lossBefore) { undoStack[k].lossBefore = before; }
        break;
      }
    }
    this.render(0, 0, this.width, this.height);  // the counts held only pixels inside
  };

  ViewEditor.prototype.percent = function () {
    return this.scalpCount ? 100 * this.lossCount / this.scalpCount : null;
  };

  // Scalp: light fill with a solid outline; hair loss: red (faint outside the scalp).
  ViewEditor.prototype.render = function (x0, y0, x1, y1) {
    x0 = Math.max(0, Math.floor(x0) - 1); y0 = Math.max(0, Math.floor(y0) - 1);
    x1 = Math.min(this.width, Math.ceil(x1) + 1); y1 = Math.min(this.height, Math.ceil(y1) + 1);
    if (x1 <= x0 || y1 <= y0) { return; }
    var data = this.image.data, w = this.width, h = this.height, scalp = this.scalp, loss = this.hairloss;
    for (var y = y0; y < y1; y++) {
      for (var x = x0; x < x1; x++) {
        var i = y * w + x, o = 4 * i, c = null;
        if (display.hairloss && loss[i]) {
          c = scalp[i] ? COLORS.loss : COLORS.lossOut;
        } else if (display.scalp && scalp[i]) {
          var edge = (x > 0 && !scalp[i - 1]) || (x < w - 1 && !scalp[i + 1]) ||
                     (y > 0 && !scalp[i - w]) || (y < h - 1 && !scalp[i + w]);
          c = edge ? COLORS.scalpEdge : COLORS.scalp;
        }
        if (c) { data[o] = c[0]; data[o + 1] = c[1]; data[o + 2] = c[2]; data[o + 3] = c[3]; }
        else { data[o + 3] = 0; }
      }
    }
    this.ctx.putImageData(this.image, 0, 0, x0, y0, x1 - x0, y1 - y0);
  };

  ViewEditor.prototype.toImage = function (event) {
    var rect = this.canvas.getBoundingClientRect();
    return {
      x: (event.clientX - rect.left) * this.width / rect.width,
      y: (event.clientY - rect.top) * this.height / rect.height,
      scale: this.width / rect.width
    };
  };

  // Paint a disc of the current brush at (cx, cy), keeping the counts exact.
  ViewEditor.prototype.stamp = function (cx, cy) {
    var r = tool.size / 2, r2 = r * r, w = this.width;
    var value = tool.mode === "brush" ? 1 : 0;
    var layer = tool.layer === "scalp" ? this.scalp : this.hairloss;
    var other = tool.layer === "scalp" ? this.hairloss : this.scalp;
    var isScalp = tool.layer === "scalp";
    var ys = Math.max(0, Math.floor(cy - r)), ye = Math.min(this.height - 1, Math.ceil(cy + r));
    var xs = Math.max(0, Math.floor(cx - r)), xe = Math.min(w - 1, Math.ceil(cx + r));
    for (var y = ys; y <= ye; y++) {
      var dy = y + 0.5 - cy;
      for (var x = xs; x <= xe; x++) {
        var dx = x + 0.5 - cx;
        if (dx * dx + dy * dy > r2) { continue; }
        var i = y * w + x;
        if (layer[i] === value) { continue; }
        layer[i] = value;
        var delta = value ? 1 : -1;
        if (isScalp) {
          this.scalpCount += delta;
          if (other[i]) { this.lossCount += delta; }
        } else if (other[i]) {
          this.lossCount += delta;
        }
      }
    }
    this.touched = true;
    this.render(xs, ys, xe + 1, ye + 1);
  };

  ViewEditor.prototype.strokeTo = function (p) {
    if (!this.last) { this.stamp(p.x, p.y); this.last = p; return; }
    var dx = p.x - this.last.x, dy = p.y - this.last.y;
    var dist = Math.sqrt(dx * dx + dy * dy);
    var step = Math.max(1, tool.size / 4);
    var n = Math.max(1, Math.ceil(dist / step));
    for (var k = 1; k <= n; k++) { this.stamp(this.last.x + dx * k / n, this.last.y + dy * k / n); }
    this.last = p;
  };

  ViewEditor.prototype.drawCursor = function (p) {
    var ctx = this.cursor.getContext("2d");
    ctx.clearRect(0, 0, this.width, this.height);
    if (!p) { return; }
    ctx.beginPath();
    ctx.arc(p.x, p.y, tool.size / 2, 0, 2 * Math.PI);
    ctx.lineWidth = Math.max(1, 1.5 * p.scale);
    ctx.strokeStyle = tool.mode === "brush" ? "rgba(255,255,255,0.95)" : "rgba(255,220,0,0.95)";
    ctx.stroke();
  };

  ViewEditor.prototype.bind = function () {
    var self = this, canvas = this.canvas;
    canvas.addEventListener("pointerdown", function (event) {
      if (event.button !== 0 || self.reverting) { return; }  // "Model's masks" on its way: no strokes
      event.preventDefault();
      canvas.setPointerCapture(event.pointerId);
      pushUndo(self, tool.layer);
      self.drawing = true;
      self.last = null;
      self.strokeTo(self.toImage(event));
      liveUpdate();
    });
    canvas.addEventListener("pointermove", function (event) {
      var p = self.toImage(event);
      self.drawCursor(p);
      if (!self.drawing) { return; }
      self.strokeTo(p);
      liveUpdate();
    });
    function end(event) {
      if (!self.drawing) { return; }
      self.drawing = false;
      self.last = null;
      if (canvas.hasPointerCapture(event.pointerId)) { canvas.releasePointerCapture(event.pointerId); }
      markDirty(self.name);
    }
    canvas.addEventListener("pointerup", end);
    canvas.addEventListener("pointercancel", end);
    canvas.addEventListener("pointerenter", function () { pointerOverView = true; });
    canvas.addEventListener("pointerleave", function () { pointerOverView = false; self.drawCursor(null); });
  };

  ViewEditor.prototype.maskBlob = function (mask) {
    var canvas = document.createElement("canvas");
    canvas.width = this.width;
    canvas.height = this.height;
    var ctx = canvas.getContext("2d");
    var img = ctx.createImageData(this.width, this.height);
    for (var i = 0; i < mask.length; i++) {
      var v = mask[i] ? 255 : 0, o = 4 * i;
      img.data[o] = img.data[o + 1] = img.data[o + 2] = v;
      img.data[o + 3] = 255;
    }
    ctx.putImageData(img, 0, 0);
    return new Promise(function (resolve) { canvas.toBlob(resolve, "image/png"); });
  };

  // ------------------------------------------------------------------ undo

  // Strokes per view since the page loaded: undoing a view's last one sends "revert", so the
  // server takes the model's own result back (its %, its confidence, not "corrected").
  var strokes = {};
  var reverted = {};

  function pushUndo(editor, layer) {
    var source = layer === "scalp" ? editor.scalp : editor.hairloss;
    strokes[editor.name] = (strokes[editor.name] || 0) + 1;
    delete reverted[editor.name];
    undoStack.push({ view: editor.name, layer: layer, data: source.slice() });
    if (undoStack.length > UNDO_LIMIT) { undoStack.shift(); }
    updateUndoButton();
  }

  function undo() {
    var item = undoStack.pop();
    updateUndoButton();
    if (!item) { return; }
    var editor = editors[item.view];
    if (item.layer === "scalp") { editor.scalp = item.data; } else { editor.hairloss = item.data; }
    if (item.lossBefore && item.layer === "scalp") { editor.hairloss = item.lossBefore; }
    editor.recount();
    editor.touched = true;
    editor.render(0, 0, editor.width, editor.height);
    liveUpdate();
    strokes[item.view] = Math.max(0, (strokes[item.view] || 0) - 1);
    if (strokes[item.view] === 0 && editor.loadedAsModel) { reverted[item.view] = true; }
    markDirty(editor.name);
  }

  // "Model's masks" on a view: drop every correction of it, also those made before a reload
  // (which Undo no longer holds), and take the model's masks back from the server.
  function revertView(view) {
    var editor = editors[view];
    if (!editor || !editor.ready) { return Promise.resolve(); }
    var button = $("revert-" + view), back = button ? button.textContent.trim().toLowerCase() : "model's masks";
    if (!window.confirm("Drop every correction of the " + view + " view and take the " + back + " back? " +
                        "This cannot be undone.")) { return Promise.resolve(); }
    undoStack = undoStack.filter(function (item) { return item.view !== view; });
    updateUndoButton();
    strokes[view] = 0;
    reverted[view] = true;
    editor.reverting = true;
    markDirty(view);
    clearTimeout(syncTimer);
    return Promise.resolve(sync()).then(function () {
      if ($("sync-status").dataset.state === "error") { return null; }  // refused: the status says why
      editor.loadedAsModel = true;
      return editor.reloadMasks("revert-" + revision);  // the numbers are the server's, already shown
    }).then(function () { editor.reverting = false; }, function () { editor.reverting = false; });
  }

  function updateUndoButton() {
    var button = $("undo");
    if (button) { button.disabled = undoStack.length === 0; }
  }

  // ------------------------------------------------------------------ numbers

  // the SALT as shown (one decimal), then half up: alonet.scoring.salt.category_value
  // One decimal as the server writes it (Python's correctly rounded format). The only exact ties
  // are odd multiples of 0.25 (20.25, 20.75): Python takes the even digit (20.2, 20.8), toFixed
  // the larger (20.3, 20.8); every other value is rounded alike by both.
  function oneDecimal(x) {
    const q = x * 4;
    if (Number.isInteger(q) && Math.abs(q) % 2 === 1) {
      const n = Math.floor(x * 10);
      return ((n % 2 === 0 ? n : n + 1) / 10).toFixed(1);
    }
    return x.toFixed(1);
  }
  function categoryValue(salt) { return Math.floor(parseFloat(oneDecimal(salt)) + 0.5); }

  function gradeOf(salt) {
    var v = categoryValue(salt);
    for (var i = 0; i < grades.length; i++) { if (v >= grades[i][1] && v <= grades[i][2]) { return grades[i][0]; } }
    return "–";
  }

  function bandOf(salt) {
    var v = categoryValue(salt);
    for (var i = 0; i < bands.length; i++) { if (v >= bands[i][2] && v <= bands[i][3]) { return bands[i][1]; } }
    return "–";
  }

  function setText(id, value) { var el = $(id); if (el) { el.textContent = value; } }

  function showNumbers(perView, salt, partial, complete) {
    ALL_VIEWS.forEach(function (v) {
      if (!(v in perView)) { return; }
      var pct = perView[v];
      setText("loss-" + v, pct === null ? "no scalp" : oneDecimal(pct) + "%");
      // a withheld SALT is not shown as per-view points either (as in the report and JSON)
      setText("contrib-" + v, pct === null || withheld.length ? "–" : (weights[v] * pct).toFixed(2));
      setText("caption-loss-" + v, pct === null ? "" : "· " + oneDecimal(pct) + "% hair loss");
    });
    if (complete && withheld.length) {
      complete = false;  // a view needs a retake: no SALT (alonet.infer.policy)
      setText("salt-value", "withheld");
      setText("grade", "–");
      setText("band", "–");
    } else if (complete) {
      setText("salt-value", oneDecimal(salt));
      setText("grade", gradeOf(salt));
      setText("band", bandOf(salt));
    } else {
      setText("salt-value", "incomplete");
      setText("grade", "–");
      setText("band", "–");
    }
    setText("partial-salt", partial === null || withheld.length ? "–" : oneDecimal(partial));
    var saltEl = $("salt-value");
    if (saltEl) { saltEl.dataset.salt = complete ? salt.toFixed(4) : ""; }
  }

  // Recompute from the masks in the page (during painting). Views not touched
  // since the server's last answer keep the server's value (computed on the
  // full-size masks, which may be larger than the page's copy).
  function liveUpdate() {
    var perView = {}, partial = 0, scored = 0, complete = true;
    ALL_VIEWS.forEach(function (v) {
      var ed = editors[v];
      if (!ed || !ed.ready) { complete = false; return; }
      var pct = ed.touched || !(v in serverPercent) ? ed.percent() : serverPercent[v];
      perView[v] = pct;
      if (pct === null) { complete = false; return; }
      partial += weights[v] * pct;
      scored++;
    });
    partial = Math.min(100, Math.max(0, partial));
    showNumbers(perView, partial, scored ? partial : null, complete);
  }

  // Take the server's recomputed summary.
  function applySummary(summary) {
    var perView = {};
    withheld = summary.withheld || [];
    setText("withheld-reason", summary.withheld_reason || "");
    var withheldNote = $("withheld-note");
    if (withheldNote) { withheldNote.hidden = !withheld.length; }
    ALL_VIEWS.forEach(function (v) {
      var row = summary.views[v];
      if (!row || !row.present) { return; }
      perView[v] = row.loss_pct;
      serverPercent[v] = row.loss_pct;
      if (editors[v]) { editors[v].touched = false; }
      setText("conf-" + v, row.corrected ? "corrected" : (row.confidence === null ? "–" : Math.round(100 * row.confidence) + "%"));
      var cell = $("flags-" + v);
      if (cell) {
        cell.textContent = "";
        row.flags.forEach(function (f) {
          var span = document.createElement("span");
          span.className = "flag" + (reviewCodes.indexOf(f.code) < 0 ? " retake" : "");
          span.textContent = f.message;
          cell.appendChild(span);
        });
        if (!row.flags.length) { cell.textContent = "ok"; }
      }
    });
    showNumbers(perView, summary.salt === null ? 0 : summary.salt, summary.partial_salt, summary.complete);
    if (summary.complete) {  // a withheld SALT has no grade or band: "–", as an incomplete visit
      setText("grade", summary.grade || "–");
      setText("band", summary.band || "–");
    }
    // the server's one-decimal SALT of the unrounded value (summary.salt is rounded to 0.01)
    if (summary.salt_shown) { setText("salt-value", summary.salt_shown); }
    var mark = $("provisional-mark");  // a correction can make a SALT provisional, or no longer
    if (mark) { mark.hidden = !(summary.provisional && summary.salt !== null); }
    var note = $("incomplete-note");
    if (note) { note.hidden = summary.complete; }
  }

  // ------------------------------------------------------------------ sync

  // What the server's answer changed, in words, for the sync status: it is a polite live region, so a
  // screen reader user hears the new SALT once the corrections are applied (the numbers that move
  // while painting are not announced: that would be a stream of numbers).
  function resultSentence() {
    var text = "SALT " + ($("salt-value") ? $("salt-value").textContent.trim() : "–");
    if ($("provisional-mark") && !$("provisional-mark").hidden) { text = "provisional " + text; }
    [["grade", "grade "], ["band", "AA-IGA "]].forEach(function (pair) {
      var el = $(pair[0]);
      if (el && el.textContent.trim() !== "–") { text += ", " + pair[1] + el.textContent.trim(); }
    });
    return text;
  }

  function setSync(state, message) {
    var el = $("sync-status");
    if (!el) { return; }
    el.dataset.state = state;
    el.textContent = message;
  }

  function markDirty(view) {
    dirty[view] = true;
    generation++;
    setSync("pending", "Corrections not yet applied…");
    clearTimeout(syncTimer);
    syncTimer = setTimeout(sync, SYNC_DELAY_MS);
  }

  // POST corrected masks (or reverts) to the server; resolves with its answer, whose revision and
  // unsaved state the page takes at once, or rejects with the server's one-line reason.
  function postMasks(form) {
    return fetch(root.dataset.masksUrl, {
      method: "POST",
      body: form,
      credentials: "same-origin",
      headers: { "X-CSRFToken": csrf, "Accept": "application/json" }
    }).then(function (response) {
      return response.json().then(function (body) {
        staleRefusal = response.status === 409;  // out of date: only a reload helps
        if (!response.ok) { throw new Error(body.error || ("server answered " + response.status)); }
        if (body.revision !== undefined) { revision = String(body.revision); }
        lease.used();
        var unsavedNote = $("unsaved-note");
        if (unsavedNote) { unsavedNote.hidden = !body.unsaved; }
        return body;
      });
    });
  }

  function sync() {
    syncTimer = null;
    if (syncing) { return syncing.then(function () { return Object.keys(dirty).length ? sync() : null; }); }
    var views = Object.keys(dirty);
    if (!views.length) { return Promise.resolve(); }
    dirty = {};
    var sentGeneration = generation;
    setSync("syncing", "Applying corrections…");
    var form = new FormData();
    if (revision !== "") { form.append("revision", revision); }  // the server refuses it if someone else corrected since
    var blobs = [];
    views.forEach(function (v) {
      var ed = editors[v];
      if (reverted[v]) { form.append("revert", v); return; }  // back to the model's own masks
      ed.dropLossOutsideScalp();
      blobs.push(ed.maskBlob(ed.scalp).then(function (b) { form.append("scalp_" + v, b, "scalp.png"); }));
      blobs.push(ed.maskBlob(ed.hairloss).then(function (b) { form.append("hairloss_" + v, b, "hairloss.png"); }));
    });
    var chain = Promise.all(blobs).then(function () {
      return postMasks(form);
    }).then(function (body) {
      var unsavedNote = $("unsaved-note");
      if (generation === sentGeneration) {
        applySummary(body.summary);
        setSync("synced", "Corrections applied: " + resultSentence() + "." +
          (unsavedNote && body.unsaved ? " Not stored yet: press Save visit." : ""));
      }
    }).catch(function (error) {
      views.forEach(function (v) { dirty[v] = true; });
      setSync("error", "Corrections not applied: " + error.message);
    }).then(function () {
      if (syncing === chain) { syncing = null; }  // (a file upload queued behind it keeps its own)
      if (Object.keys(dirty).length && $("sync-status").dataset.state !== "error") { return sync(); }
      return null;
    });
    syncing = chain;
    return chain;
  }

  // Downloads and saving wait until the server has the latest corrections.
  function holdUntilSynced(form) {
    form.addEventListener("submit", function (event) {
      if (!Object.keys(dirty).length && !syncing) { return; }
      event.preventDefault();
      var submitter = event.submitter;
      clearTimeout(syncTimer);
      Promise.resolve(sync()).then(function () {
        var note = form.querySelector(".form-error");
        if (Object.keys(dirty).length) {  // the server refused the corrections: say so here, where the user looks
          if (!note) {
            note = document.createElement("p");
            note.className = "form-error";
            note.setAttribute("role", "alert");
            form.appendChild(note);
          }
          // a page out of date (409) never gets through by retrying: say to reload instead
          note.textContent = "Waiting for the corrections, which the server did not apply (" +
            $("sync-status").textContent + ")." + (staleRefusal ? "" : " Press the button again to retry.");
          return;
        }
        if (note) { note.remove(); }
        if (form.requestSubmit) { form.requestSubmit(submitter); } else { form.submit(); }
      });
    });
  }

  // ------------------------------------------------------------------ masks from files

  // The keyboard way to correct (painting needs a pointer): both masks of a view chosen as files in
  // the form under the photographs, sent like a painted correction once earlier strokes are applied.
  function bindMaskFiles() {
    var form = $("mask-files-form");
    if (!form) { return; }
    var status = $("mask-files-status");
    var button = $("mask-files-apply");
    var say = function (message) { status.textContent = message; };
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var data = new FormData();
      var views = [], half = [];
      ALL_VIEWS.forEach(function (v) {
        var scalp = form.elements["scalp_" + v], loss = form.elements["hairloss_" + v];
        if (!scalp || !loss) { return; }
        var chosen = [scalp.files[0], loss.files[0]];
        if (chosen[0] && chosen[1]) {
          data.append("scalp_" + v, chosen[0]);
          data.append("hairloss_" + v, chosen[1]);
          views.push(v);
        } else if (chosen[0] || chosen[1]) {
          half.push(v);
        }
      });
      if (half.length) { say("Choose both masks (scalp and hair loss) of the " + half.join(" and ") + " view."); return; }
      if (!views.length) { say("Choose the two corrected masks of at least one view."); return; }
      button.disabled = true;
      say("Applying the masks of the " + views.join(", ") + " view" + (views.length > 1 ? "s" : "") + "…");
      clearTimeout(syncTimer);
      // The upload takes the place of a sync: strokes painted meanwhile, Report, Save and leaving
      // the page wait for it (they wait on `syncing`), and strokes then go with its new revision.
      var upload = Promise.resolve(sync()).then(function () {
        if (Object.keys(dirty).length) { throw new Error("the painted corrections before it were not applied; try again"); }
        if (revision !== "") { data.append("revision", revision); }
        data.append("source", "files");  // a refusal (out of date) then speaks of files, not strokes
        return postMasks(data);
      }).then(function (body) {
        generation++;
        // Undo works on strokes; an upload replaces the view's masks, so its strokes are forgotten.
        undoStack = undoStack.filter(function (item) { return views.indexOf(item.view) < 0; });
        updateUndoButton();
        views.forEach(function (v) { strokes[v] = 0; delete reverted[v]; editors[v].loadedAsModel = false; });
        return Promise.all(views.filter(function (v) { return editors[v] && editors[v].ready; }).map(function (v) {
          return editors[v].reloadMasks(revision);
        })).then(function () {
          applySummary(body.summary);
          form.reset();
          var message = "Masks applied to the " + views.join(", ") + " view" + (views.length > 1 ? "s" : "") +
            ": " + resultSentence() + ".";
          say(message);  // this form's own live region: the tool bar's status is not repeated
        });
      }).catch(function (error) {
        say("Masks not applied: " + error.message);
      }).then(function () {
        button.disabled = false;
        if (syncing === upload) { syncing = null; }
      });
      syncing = upload;
    });
  }

  // ------------------------------------------------------------------ time limit

  // The server forgets a result some time after its last use (serve --keep-minutes). Shortly before
  // then the page says when, in an alert, with one button that keeps it (WCAG 2.2.1). Asking how long
  // is left does not count as a use: an idle page does not keep a result alive by itself.
  var lease = { used: function () {} };

  function bindLease() {
    var box = $("lease-warning"), text = $("lease-text"), keep = $("lease-keep");
    var url = root.dataset.leaseUrl;
    if (!box || !text || !keep || !url) { return; }
    var ttl = Number(root.dataset.ttlS) || 3600;
    var warnBefore = Math.min(300, ttl / 2);  // seconds
    var deadline = Date.now() + ttl * 1000;
    var timer = null;
    var gone = false;

    var clock = function (ms) { return new Date(ms).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }); };
    var inWords = function (s) {
      if (s >= 90) { return "in about " + Math.round(s / 60) + " minutes"; }
      return s >= 60 ? "in about a minute" : "in " + Math.max(1, Math.round(s)) + " seconds";
    };
    var savedAlready = function () {
      var note = $("unsaved-note");
      return Boolean($("saved-as") && note && note.hidden);
    };
    var ask = function (method) {
      return fetch(url, { method: method, credentials: "same-origin",
                          headers: { "X-CSRFToken": csrf, "Accept": "application/json" } })
        .then(function (response) {
          return response.json().then(function (body) {
            if (!response.ok) { throw new Error(body.error || ("server answered " + response.status)); }
            return body;
          });
        });
    };
    var wakeAt = function (ms, fn) { clearTimeout(timer); timer = setTimeout(fn, Math.max(0, ms - Date.now())); };
    var plan = function (expiresIn) {
      deadline = Date.now() + expiresIn * 1000;
      wakeAt(deadline - warnBefore * 1000, check);
    };
    var forgotten = function (message) {
      gone = true;
      clearTimeout(timer);
      box.hidden = false;
      keep.hidden = true;
      text.textContent = "This result is no longer on the server: " + message;
    };
    function check() {
      if (gone) { return; }
      ask("GET").then(function (body) {
        if (body.expires_in_s > warnBefore + 1) { box.hidden = true; plan(body.expires_in_s); return; }  // used since
        deadline = Date.now() + body.expires_in_s * 1000;
        box.hidden = false;
        keep.hidden = false;
        box.dataset.state = "warning";
        text.textContent = (savedAlready()
          ? "The server forgets this page's copy of the result at " + clock(deadline) + " (" +
            inWords(body.expires_in_s) + ") unless it is used; the saved visit stays in the store."
          : "Not stored: the server forgets this result at " + clock(deadline) + " (" + inWords(body.expires_in_s) +
            ") unless it is used. Keep it, or " + ($("save-form") ? "save the visit or " : "") +
            "download the report.");
        wakeAt(deadline + 1000, check);
      }).catch(function (error) { forgotten(error.message); });
    }
    keep.addEventListener("click", function () {
      keep.disabled = true;
      ask("POST").then(function (body) {
        plan(body.expires_in_s);
        box.dataset.state = "kept";
        text.textContent = "Kept: the server now keeps this result until " + clock(deadline) +
          ", and longer while it is used.";
      }).catch(function (error) { forgotten(error.message); }).then(function () { keep.disabled = false; });
    });
    // the confirmation goes once the user moves on (focus leaves it, or the next correction)
    box.addEventListener("focusout", function (event) {
      if (box.dataset.state === "kept" && !box.contains(event.relatedTarget)) { box.hidden = true; }
    });
    document.addEventListener("visibilitychange", function () {  // timers of a hidden tab run late
      if (!document.hidden && !gone && Date.now() >= deadline - warnBefore * 1000) { check(); }
    });
    var reportForm = $("report-form");  // a download is a use too
    if (reportForm) { reportForm.addEventListener("submit", function () { lease.used(); }); }
    lease.used = function () {
      if (gone) { return; }
      plan(ttl);
      if (!box.hidden) { box.hidden = true; }
    };
    plan(ttl);
  }

  // ------------------------------------------------------------------ controls

  function bindControls() {
    document.querySelectorAll('input[name="layer"]').forEach(function (el) {
      el.addEventListener("change", function () { if (el.checked) { tool.layer = el.value; } });
    });
    document.querySelectorAll('input[name="tool"]').forEach(function (el) {
      el.addEventListener("change", function () { if (el.checked) { tool.mode = el.value; } });
    });
    var size = $("brush-size");
    if (size) {
      var setSize = function () {
        tool.size = Number(size.value);
        setText("brush-size-value", size.value + "\u00a0px");
        size.setAttribute("aria-valuetext", size.value + " pixels");
      };
      size.addEventListener("input", setSize);
      setSize();
    }
    var undoButton = $("undo");
    if (undoButton) { undoButton.addEventListener("click", undo); }
    var redrawAll = function () {
      Object.keys(editors).forEach(function (v) {
        var ed = editors[v];
        if (ed.ready) { ed.render(0, 0, ed.width, ed.height); }
      });
    };
    $("show-scalp").addEventListener("change", function (e) { display.scalp = e.target.checked; redrawAll(); });
    $("show-hairloss").addEventListener("change", function (e) { display.hairloss = e.target.checked; redrawAll(); });
    var opacity = $("opacity");
    var setOpacity = function () {
      display.opacity = Number(opacity.value) / 100;
      opacity.setAttribute("aria-valuetext", opacity.value + " %");
      Object.keys(editors).forEach(function (v) { editors[v].canvas.style.opacity = String(display.opacity); });
    };
    opacity.addEventListener("input", setOpacity);
    setOpacity();
    if (editable) {
      document.addEventListener("keydown", function (event) {
        // Typing in a form field (patient code, reviewer, date) keeps its own keys: no undo, no brush size.
        var target = event.target;
        if (target && target.closest && target.closest(
            'textarea, select, [contenteditable], input:not([type="range"]):not([type="radio"]):not([type="checkbox"])')) {
          return;
        }
        // Ctrl+Z undoes; Ctrl+Shift+Z and Ctrl+Y (redo elsewhere) do nothing here: there is no
        // redo, and undoing another stroke on a redo key lost it for good
        if ((event.ctrlKey || event.metaKey) && event.key.toLowerCase() === "z" && !event.shiftKey) {
          event.preventDefault(); undo();
        }
        // Single keys act only where the brush is (WCAG 2.1.4): elsewhere [ and ] stay plain keys,
        // so speech input or a stray key press does not change the brush.
        if (!pointerOverView) { return; }
        if (event.key === "[" && size) { size.value = Math.max(2, Number(size.value) - 4); size.dispatchEvent(new Event("input")); }
        if (event.key === "]" && size) { size.value = Math.min(200, Number(size.value) + 4); size.dispatchEvent(new Event("input")); }
      });
      ["report-form", "save-form"].forEach(function (id) { var f = $(id); if (f) { holdUntilSynced(f); } });
      window.addEventListener("beforeunload", function (event) {
        if (Object.keys(dirty).length || syncing) { event.preventDefault(); }
      });
    }
  }

  document.querySelectorAll("figure.view").forEach(function (figure) {
    editors[figure.dataset.view] = new ViewEditor(figure);
  });
  bindControls();
  if (editable) {
    bindMaskFiles(); bindLease();
    document.querySelectorAll("button.revert-view").forEach(function (button) {
      button.addEventListener("click", function () { revertView(button.dataset.view); });
    });
  }
  if (root.dataset.summary) {
    var initial = JSON.parse(root.dataset.summary);
    Object.keys(editors).forEach(function (v) {  // a view the model drew (not corrected before this page)
      editors[v].loadedAsModel = !(initial.views[v] && initial.views[v].corrected);
    });
    applySummary(initial);
  }
  Promise.all(Object.keys(editors).map(function (v) { return editors[v].load(); })).then(function () {
    root.dataset.ready = "1";
  }).catch(function (error) {
    root.dataset.ready = "error";
    setSync("error", "Could not load the masks: " + error.message);
  });
})();
