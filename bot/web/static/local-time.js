// The public page is rendered in the server's time zone; this shows every <time data-local> in the viewer's own.
(function () {
  "use strict";
  var lang = document.documentElement.lang || undefined;
  var format = new Intl.DateTimeFormat(lang, {
    weekday: "short", year: "numeric", month: "short", day: "numeric",
    hour: "2-digit", minute: "2-digit", hourCycle: "h23", timeZoneName: "short"
  });
  var times = document.querySelectorAll("time[data-local]");
  for (var i = 0; i < times.length; i++) {
    var when = new Date(times[i].getAttribute("datetime"));
    if (!isNaN(when.getTime())) {
      times[i].textContent = format.format(when);
      times[i].setAttribute("data-converted", "");
    }
  }
  var note = document.querySelector("[data-local-note]");
  var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  if (note && zone) {
    note.textContent = note.getAttribute("data-local-note").replace("{zone}", zone);
  }
})();
