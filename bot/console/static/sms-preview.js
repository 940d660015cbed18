// Live preview of the SMS residents will read: the same template and counting as
// bot/sms.py (the page carries the template, the GSM-7 alphabet and the table of punctuation
// made plain). The server checks again.
(function () {
  "use strict";
  var box = document.querySelector(".sms-preview");
  if (!box) { return; }
  var youSaid = document.getElementById("you_said");
  var weDid = document.getElementById("we_did");
  var out = document.getElementById("sms-text");
  var count = document.getElementById("sms-count");
  var stages = document.querySelectorAll("input[name=stage]");
  var basic = new Set(Array.from(box.dataset.gsm7));
  var extended = new Set(Array.from(box.dataset.gsm7Ext));
  var maxSegments = parseInt(box.dataset.maxSegments, 10);

  // As bot/sms.py's plain_text, from its table: what Word types for quotes, dashes.
  var typographic = new Map(Object.entries(JSON.parse(box.dataset.plain)));

  function tidy(text) {
    var plain = Array.from(text).map(function (c) {
      return typographic.has(c) ? typographic.get(c) : c;
    }).join("");
    return plain.split(/\s+/).filter(Boolean).join(" ");
  }

  // As bot/services/updates.py: what changed ends as a sentence does.
  function sentence(text) {
    return !text || /[.!?]["')\]]*$/.test(text) ? text : text + ".";
  }

  function message() {
    var said = tidy(youSaid.value).replace(/\.+$/, "");
    var did = sentence(tidy(weDid.value));
    var coming = document.querySelector("input[name=stage]:checked");
    var template = coming && coming.value === "coming" ? box.dataset.templateComing : box.dataset.template;
    return template.replace("{you_said}", function () { return said; })
                   .replace("{we_did}", function () { return did; });
  }

  function measure(text) {
    var chars = Array.from(text);
    var outside = chars.filter(function (c) { return !basic.has(c) && !extended.has(c); });
    var length, single, multi, encoding;
    if (outside.length === 0) {
      length = chars.reduce(function (n, c) { return n + (extended.has(c) ? 2 : 1); }, 0);
      single = 160; multi = 153; encoding = "GSM-7";
    } else {
      length = text.length; // UTF-16 code units, as UCS-2 counts them
      single = 70; multi = 67; encoding = "UCS-2";
    }
    var parts = length <= single ? (length ? 1 : 0) : Math.ceil(length / multi);
    return { chars: chars.length, parts: parts, encoding: encoding, outside: outside };
  }

  function update() {
    if (!youSaid.value.trim() && !weDid.value.trim()) {
      out.textContent = "Type above to see the message.";
      count.textContent = "";
      return;
    }
    var text = message();
    var m = measure(text);
    out.textContent = text;
    var line = (m.encoding === "GSM-7" ? "Plain text: " : "With special characters: ") +
      m.chars + " characters, " + m.parts + " SMS.";
    if (m.outside.length) {
      line += " Not plain SMS characters: " + Array.from(new Set(m.outside)).join(" ") +
        ". Replace them (for example an emoji; curly quotes and dashes are made plain).";
    } else if (m.parts > maxSegments) {
      line += " Too long: it must fit " + maxSegments + " SMS. Shorten it.";
    }
    count.textContent = line;
    count.className = (m.outside.length || m.parts > maxSegments) ? "error" : "";
  }

  youSaid.addEventListener("input", update);
  weDid.addEventListener("input", update);
  stages.forEach(function (input) { input.addEventListener("change", update); });
  update();
})();
