// The login page's client logic. checkForOneTouch() is the reference article's
// (app/assets/javascripts/sessions.js), unchanged: sse-gateway serves the same
// stream at the same path, so the app's JavaScript needs no change.
(function () {
  var modal = document.getElementById("onetouch-modal");
  var tokenForm = document.getElementById("token-form");

  var showTokenForm = function () {
    modal.hidden = true;
    document.querySelector("main").hidden = true;
    tokenForm.hidden = false;
  };

  // In the app this POSTs /authy/send_token; the demo has no app behind it.
  var triggerSMSToken = function () {
    document.getElementById("sms-note").textContent =
      "OneTouch was denied. (Demo: the app would send an SMS token now.)";
  };

  var checkForOneTouch = function() {
    var source = new EventSource("/authy/live_status")
    source.addEventListener("authy_status", function(event) {
      var data = JSON.parse(event.data);
      if (data.status === "approved") {
        source.close();
        window.location.href = "/account";
      } else if (data.status === "denied") {
        showTokenForm();
        triggerSMSToken();
      }
    })
  };

  document.getElementById("login-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var user = document.getElementById("user-id").value.trim();
    // Demo login: the cookie the demo nginx maps to X-User-Id (see nginx.conf.in).
    document.cookie = "demo_user=" + encodeURIComponent(user) + "; path=/; SameSite=Strict";
    modal.hidden = false;
    checkForOneTouch();
  });
})();
