// The submit page: drop a file on the upload box, and for a CSV or TSV
// read its header here in the browser and offer its columns as a choice.
// Without JavaScript the page still works: the file picker and the column
// name box are plain form fields.
(function () {
  "use strict";
  var form = document.getElementById("submit-form");
  if (!form) return;
  var input = document.getElementById("id_file");
  var zone = document.getElementById("upload");
  var hint = document.getElementById("dropzone-hint");
  var summary = document.getElementById("file-summary");
  var columnInput = document.getElementById("id_column");
  var columnLabel = document.getElementById("column-label");
  var encoding = document.getElementById("id_encoding");
  var texts = document.getElementById("id_texts");
  var maxBytes = Number(input.dataset.maxBytes) || 0;
  // The file types we read, from the picker's accept list (web/forms.py): a
  // file of another type is refused here, before it is uploaded.
  var ACCEPTED = input.accept.split(",").filter(function (a) { return a.charAt(0) === "."; });
  // Spreadsheets we cannot read, but their application can save as one we can.
  var CONVERTIBLE = [".xls", ".xlsb", ".ods", ".numbers", ".fods"];
  var picker = null;
  var helptext = document.getElementById("id_column_helptext");
  var helpOriginal = helptext.textContent;
  // Enough for any header line; the worker re-reads the whole file anyway.
  var HEADER_BYTES = 64 * 1024;
  // The server's automatic choice (worker/inputs.py, TEXT_COLUMN_NAMES).
  var TEXT_NAMES = ["text", "review", "comment", "content", "body", "message", "review_text", "feedback"];
  // The form's encoding choices, as the browser's TextDecoder names them.
  var DECODERS = { "utf-8": "utf-8", "utf-16": "utf-16le", "windows-1252": "windows-1252", cp949: "euc-kr", "latin-1": "windows-1252" };

  hint.hidden = false;
  zone.classList.add("droppable");

  var depth = 0;
  zone.addEventListener("dragenter", function (event) {
    event.preventDefault();
    depth += 1;
    zone.classList.add("dragging");
  });
  zone.addEventListener("dragover", function (event) {
    event.preventDefault();
    if (event.dataTransfer) event.dataTransfer.dropEffect = "copy";
  });
  zone.addEventListener("dragleave", function () {
    depth = Math.max(depth - 1, 0);
    if (!depth) zone.classList.remove("dragging");
  });
  zone.addEventListener("drop", function (event) {
    event.preventDefault();
    depth = 0;
    zone.classList.remove("dragging");
    var files = event.dataTransfer && event.dataTransfer.files;
    if (!files || !files.length) return;
    input.files = files;
    inspect();
  });
  input.addEventListener("change", inspect);
  encoding.addEventListener("change", inspect);

  function sizeText(bytes) {
    if (bytes < 1024) return t("bytes", { n: bytes });
    if (bytes < 1024 * 1024) return (bytes / 1024).toFixed(1) + " KB";
    return (bytes / (1024 * 1024)).toFixed(1) + " MB";
  }

  function say(message, isError) {
    summary.hidden = false;
    summary.removeAttribute("role");
    summary.textContent = "";
    summary.className = "file-summary" + (isError ? " error" : "");
    summary.appendChild(document.createTextNode(message + " "));
    var clear = document.createElement("button");
    clear.type = "button";
    clear.className = "link";
    clear.textContent = t("remove_file");
    clear.addEventListener("click", function () {
      input.value = "";
      inspect();
      input.focus();
    });
    summary.appendChild(clear);
  }

  function extension(name) {
    var dot = name.lastIndexOf(".");
    return dot > 0 ? name.slice(dot).toLowerCase() : "";
  }

  function refused(file) {
    var ext = extension(file.name);
    if (CONVERTIBLE.indexOf(ext) !== -1) return t("convert", { name: file.name });
    // A file without an extension is sniffed by the server.
    if (ext && ACCEPTED.indexOf(ext) === -1) return t("unreadable", { name: file.name, types: ACCEPTED.join(", ") });
    return "";
  }

  function refuse(message) {
    summary.hidden = false;
    summary.className = "file-summary error";
    summary.setAttribute("role", "alert");
    summary.textContent = message;
  }

  form.addEventListener("submit", function (event) {
    var file = input.files && input.files[0];
    if (file && refused(file)) {
      event.preventDefault();
      refuse(refused(file));
    }
  });

  function isTable(file) {
    return /\.(csv|tsv)$/i.test(file.name) || /^text\/(csv|tab-separated-values)/.test(file.type);
  }

  function inspect() {
    var file = input.files && input.files[0];
    if (!file) {
      summary.hidden = true;
      summary.textContent = "";
      useTextBox();
      return;
    }
    var refusal = refused(file);
    if (refusal) {
      // Emptied, so the form cannot send it.
      input.value = "";
      refuse(refusal);
      useTextBox();
      return;
    }
    var message = t("chosen", { name: file.name, size: sizeText(file.size) });
    if (texts.value.trim()) message += " " + t("file_not_texts");
    if (maxBytes && file.size > maxBytes) {
      say(t("too_big", { name: file.name, size: sizeText(file.size), limit: sizeText(maxBytes) }), true);
      useTextBox();
      return;
    }
    say(message, false);
    if (!isTable(file)) {
      useTextBox();
      return;
    }
    file.slice(0, HEADER_BYTES).arrayBuffer().then(function (buffer) {
      var text = decode(new Uint8Array(buffer));
      var tsv = /\.tsv$/i.test(file.name) || file.type === "text/tab-separated-values";
      var names = header(text, tsv ? "\t" : delimiter(text));
      if (names.length) usePicker(names);
      else useTextBox();
    }).catch(function () {
      useTextBox();
    });
  }

  function decode(bytes) {
    if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) return new TextDecoder("utf-8").decode(bytes);
    if (bytes[0] === 0xff && bytes[1] === 0xfe) return new TextDecoder("utf-16le").decode(bytes);
    if (bytes[0] === 0xfe && bytes[1] === 0xff) return new TextDecoder("utf-16be").decode(bytes);
    var chosen = DECODERS[encoding.value];
    if (chosen) return new TextDecoder(chosen).decode(bytes, { stream: true });
    try {
      // stream: the slice may end inside a character.
      return new TextDecoder("utf-8", { fatal: true }).decode(bytes, { stream: true });
    } catch (e) {
      return new TextDecoder("windows-1252").decode(bytes);
    }
  }

  function delimiter(text) {
    // As the server decides (worker/inputs.py): ';' if the first line has more of them than ','.
    var first = text.split("\n", 1)[0];
    return first.split(";").length > first.split(",").length ? ";" : ",";
  }

  function header(text, sep) {
    // The first CSV record; quoted fields may hold separators, quotes ("") and line breaks.
    var fields = [], field = "", quoted = false, i, c;
    text = text.replace(/^\ufeff/, "");
    for (i = 0; i < text.length; i++) {
      c = text[i];
      if (quoted) {
        if (c === '"' && text[i + 1] === '"') { field += '"'; i++; }
        else if (c === '"') quoted = false;
        else field += c;
      } else if (c === '"' && !field) quoted = true;
      else if (c === sep) { fields.push(field); field = ""; }
      else if (c === "\n" || c === "\r") break;
      else field += c;
    }
    fields.push(field);
    var seen = {};
    return fields.map(function (f) { return f.trim(); }).filter(function (f) {
      var key = f.toLowerCase();
      if (!f || seen[key]) return false;
      seen[key] = true;
      return true;
    });
  }

  function automatic(names) {
    var lower = names.map(function (n) { return n.toLowerCase(); });
    for (var i = 0; i < TEXT_NAMES.length; i++) {
      var at = lower.indexOf(TEXT_NAMES[i]);
      if (at !== -1) return t("automatic_named", { name: names[at] });
    }
    return t("automatic");
  }

  function usePicker(names) {
    var wanted = (picker ? picker.value : columnInput.value).trim().toLowerCase();
    if (!picker) {
      picker = document.createElement("select");
      picker.id = "column-choice";
      picker.name = "column";
      picker.setAttribute("aria-describedby", "id_column_helptext");
      columnInput.insertAdjacentElement("afterend", picker);
    }
    picker.textContent = "";
    picker.appendChild(new Option(automatic(names), ""));
    names.forEach(function (name) {
      picker.appendChild(new Option(name, name, false, name.toLowerCase() === wanted));
    });
    // The box stays in the form for a reload, but only the picker is sent.
    columnInput.hidden = true;
    columnInput.disabled = true;
    columnLabel.htmlFor = picker.id;
    helptext.textContent = t("columns_hint");
  }

  function useTextBox() {
    if (!picker) return;
    if (picker.value) columnInput.value = picker.value;
    picker.remove();
    picker = null;
    columnInput.hidden = false;
    columnInput.disabled = false;
    columnLabel.htmlFor = columnInput.id;
    helptext.textContent = helpOriginal;
  }
})();
