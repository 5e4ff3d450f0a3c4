// The scripts' words in the reader's language: the server writes them into the
// page as JSON (#strings, from web/context_processors.py), translated like the
// rest of the page. t("key", {name: value}) fills Django-style placeholders.
(function () {
  "use strict";
  var el = document.getElementById("strings");
  var strings = el ? JSON.parse(el.textContent) : {};
  window.t = function (key, values) {
    var template = strings[key] === undefined ? key : strings[key];
    // "%(name)s" and "%(name)02d", as Python's % formatting writes them.
    return template.replace(/%\((\w+)\)(0?)(\d*)[sd]/g, function (match, name, zero, width) {
      var text = String(values && values[name] !== undefined ? values[name] : "");
      if (zero && width) while (text.length < Number(width)) text = "0" + text;
      return text;
    });
  };
})();
