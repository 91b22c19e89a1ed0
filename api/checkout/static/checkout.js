/* paywatch hosted checkout: live status over Server-Sent Events, the countdown, the copy
   buttons and the redirect after confirmation. The page works without this file too: it then
   reloads itself (a <noscript> refresh), and the address and amount can be selected by hand.
   Everything shown is set with textContent: nothing from the server is parsed as HTML. */
(function () {
  "use strict";

  var root = document.getElementById("checkout");
  if (!root || !root.dataset.eventsUrl) {
    return;
  }
  var byId = function (id) { return document.getElementById(id); };
  var statusBox = byId("status");
  var headline = byId("status-headline");
  var detail = byId("status-detail");
  var pay = byId("pay");
  var countdownLine = byId("countdown-line");
  var countdown = byId("countdown");
  var copied = byId("copied");
  var storeName = (document.querySelector(".store") || {}).textContent || "";
  // A monotonic clock and the server's own count: the customer's clock may be wrong.
  var deadline = performance.now() + Number(root.dataset.secondsLeft || 0) * 1000;
  var source = null;
  var finished = false;
  var redirecting = false;

  function clock(seconds) {
    var h = Math.floor(seconds / 3600);
    var m = Math.floor((seconds % 3600) / 60);
    var s = seconds % 60;
    var ss = (s < 10 ? "0" : "") + s;
    if (h > 0) {
      return h + ":" + (m < 10 ? "0" : "") + m + ":" + ss;
    }
    return m + ":" + ss;
  }

  function tick() {
    if (!countdown || (countdownLine && countdownLine.hidden)) {
      return;
    }
    var left = Math.max(0, Math.round((deadline - performance.now()) / 1000));
    countdown.textContent = clock(left);
    if (left === 0 && pay) {
      pay.hidden = true;  // the quote is over: never leave a stale request on screen
    }
  }

  function safeUrl(url) {
    return typeof url === "string" && /^https?:\/\/[^\s"'<>\\]+$/i.test(url);
  }

  function redirectTo(url) {
    if (redirecting || !safeUrl(url)) {
      return;
    }
    redirecting = true;
    var box = byId("continue");
    if (box && !box.querySelector("a")) {
      var p = document.createElement("p");
      var a = document.createElement("a");
      a.className = "button secondary";
      a.href = url;
      a.textContent = "Continue to the store";
      p.appendChild(a);
      box.appendChild(p);
    }
    var delay = Number(root.dataset.redirectDelay || 4) * 1000;
    window.setTimeout(function () { window.location.assign(url); }, delay);
  }

  function show(data) {
    if (data.payable && data.pay_amount !== root.dataset.payAmount) {
      // A different request to pay (the rest of an underpaid amount): a new QR code and
      // amounts, which the server renders.
      source.close();
      window.location.reload();
      return;
    }
    root.dataset.state = data.state;
    statusBox.dataset.state = data.state;
    // Only touch the live region when the words change, so screen readers speak once.
    if (headline.textContent !== data.headline || detail.textContent !== data.detail) {
      headline.textContent = data.headline;
      detail.textContent = data.detail;
      document.title = data.headline + (storeName ? " · " + storeName : "");
    }
    if (pay) {
      pay.hidden = !data.payable;
    }
    if (countdownLine) {
      countdownLine.hidden = !data.payable;
    }
    deadline = performance.now() + Number(data.seconds_left || 0) * 1000;
    tick();
    if (data.redirect_url) {
      redirectTo(data.redirect_url);
    }
    if (data.final) {
      finished = true;
      source.close();
    }
  }

  function connect() {
    if (typeof window.EventSource !== "function") {
      window.setTimeout(function () { window.location.reload(); }, 10000);
      return;
    }
    source = new window.EventSource(root.dataset.eventsUrl);
    source.onmessage = function (event) {
      var data;
      try {
        data = JSON.parse(event.data);
      } catch (err) {
        return;
      }
      show(data);
    };
    source.onerror = function () {
      // EventSource retries by itself after a dropped connection; CLOSED means it gave up
      // (the server was busy or gone): fall back to reloading the page now and then.
      if (source.readyState === window.EventSource.CLOSED && !finished) {
        window.setTimeout(function () { window.location.reload(); }, 15000);
      }
    };
  }

  function copyFallback(text) {
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.className = "offscreen";
    document.body.appendChild(area);
    area.select();
    var ok = false;
    try {
      ok = document.execCommand("copy");
    } catch (err) {
      ok = false;
    }
    document.body.removeChild(area);
    return ok;
  }

  function say(ok, what) {
    if (copied) {
      copied.textContent = ok ? what + " copied." : "Copying failed: select the " +
        what.toLowerCase() + " and copy it by hand.";
    }
  }

  function setUpCopy(button) {
    var target = byId(button.dataset.copy);
    if (!target) {
      return;
    }
    var what = button.dataset.copy === "amount" ? "Amount" : "Address";
    button.hidden = false;  // useless without JavaScript, so hidden until now
    button.addEventListener("click", function () {
      var text = target.textContent.trim();
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(text).then(
          function () { say(true, what); },
          function () { say(copyFallback(text), what); });
      } else {
        say(copyFallback(text), what);
      }
    });
  }

  Array.prototype.forEach.call(document.querySelectorAll("button[data-copy]"), setUpCopy);
  if (root.dataset.redirectUrl) {
    redirectTo(root.dataset.redirectUrl);
  }
  window.setInterval(tick, 1000);
  tick();
  connect();
}());
