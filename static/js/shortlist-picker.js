// The shortlist's speaker picker (staff request page). Picking a name from the list puts
// that speaker's fee quote in the row and shows their home city as the city field's hint
// (a blank city means the catalogue's), so a row given another name does not keep the
// previous speaker's figures. The form works without this script: the server resolves the
// typed name and fills a blank city itself.
(function () {
  "use strict";
  var list = document.getElementById("speaker-list");
  if (!list) {
    return;
  }
  function normal(text) {
    return text.trim().replace(/\s+/g, " ").toLowerCase();
  }
  var byLabel = {};
  Array.prototype.forEach.call(list.options, function (option) {
    byLabel[normal(option.value)] = option;
  });
  document.querySelectorAll('input[list="speaker-list"]').forEach(function (input) {
    input.addEventListener("change", function () {
      var option = byLabel[normal(input.value)];
      var row = input.closest("fieldset");
      if (!option || !row) {
        return;
      }
      var fee = row.querySelector('input[name$="-fee_quote"]');
      var city = row.querySelector('input[name$="-home_city"]');
      if (fee && option.dataset.quote) {
        fee.value = option.dataset.quote;
      }
      if (city) {
        city.value = "";
        city.placeholder = option.dataset.city || "";
      }
    });
  });
})();
