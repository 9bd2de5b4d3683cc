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
  // Keyboard shortcuts (the help overlay, `?`, lists them): Alt+Shift+A approves, Alt+Shift+N approves and
  // opens the next document (on the queue: opens the next), Alt+Shift+S saves a draft, Alt+Shift+Q goes to
  // the queue; Alt+Shift+P plays or pauses a dictation, Alt+Shift+R rewinds 5 s, Alt+Shift+[ and ] change
  // the speed; `/` focuses the search.
  var help = document.getElementById("help");
  function typing(target) {
    return target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName));
  }
  document.addEventListener("keydown", function (event) {
    if (!event.altKey && !event.ctrlKey && !event.metaKey && !typing(event.target)) {
      if (event.key === "?" && help) {
        event.preventDefault();
        help.hidden = !help.hidden;
        return;
      }
      if (event.key === "Escape" && help && !help.hidden) {
        help.hidden = true;
        return;
      }
      if (event.key === "/" && document.getElementById("search")) {
        event.preventDefault();
        document.getElementById("search").focus();
        return;
      }
    }
    if (!event.altKey || !event.shiftKey) return;
    var target = { KeyA: "approve", KeyS: "save", KeyN: "approve-next" }[event.code];
    if (target && document.getElementById(target)) {
      event.preventDefault();
      document.getElementById(target).click();
    } else if (event.code === "KeyN" && document.getElementById("start-next")) {
      event.preventDefault();
      window.location.href = "/next";
    } else if (event.code === "KeyQ") {
      window.location.href = "/";
    } else if (player && event.code === "KeyP") {
      event.preventDefault();
      if (player.paused) player.play(); else player.pause();
    } else if (player && event.code === "KeyR") {
      event.preventDefault();
      player.currentTime = Math.max(0, player.currentTime - 5);
    } else if (player && (event.code === "BracketLeft" || event.code === "BracketRight")) {
      event.preventDefault();
      var rate = player.playbackRate + (event.code === "BracketRight" ? 0.25 : -0.25);
      player.playbackRate = Math.min(2, Math.max(0.5, rate));
      var shown = document.getElementById("speed");
      if (shown) shown.textContent = player.playbackRate.toFixed(2) + "×";
    }
  });
})();
