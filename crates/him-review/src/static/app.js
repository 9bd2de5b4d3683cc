// Progressive enhancements of the review UI: the pages work without this file.
(function () {
  "use strict";
  // Dictations: clicking a word seeks the audio to it; the word playing is highlighted.
  var player = document.getElementById("player");
  var transcript = document.getElementById("transcript");
  if (player && transcript) {
    var words = Array.prototype.slice.call(transcript.querySelectorAll(".word"));
    transcript.addEventListener("click", function (event) {
      var word = event.target.closest(".word");
      if (!word) return;
      player.currentTime = Number(word.dataset.start) / 1000;
      player.play();
    });
    var current = null;
    player.addEventListener("timeupdate", function () {
      var ms = player.currentTime * 1000;
      var found = null;
      for (var i = 0; i < words.length; i++) {
        if (ms >= Number(words[i].dataset.start) && ms < Number(words[i].dataset.end)) { found = words[i]; break; }
      }
      if (found === current) return;
      if (current) current.classList.remove("playing");
      if (found) found.classList.add("playing");
      current = found;
    });
  }
  // Keyboard shortcuts: Alt+Shift+A approves, Alt+Shift+S saves a draft, Alt+Shift+Q goes to the queue.
  document.addEventListener("keydown", function (event) {
    if (!event.altKey || !event.shiftKey) return;
    var target = { KeyA: "approve", KeyS: "save" }[event.code];
    if (target && document.getElementById(target)) {
      event.preventDefault();
      document.getElementById(target).click();
    } else if (event.code === "KeyQ") {
      window.location.href = "/";
    }
  });
})();
